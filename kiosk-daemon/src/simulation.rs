//! A physical kiosk in memory for the deterministic simulation (`tests/simulation.rs`):
//! devices that do what real ones do to coins, notes and paper at the moment they are
//! told, and report it later, when the simulation delivers their events.
//!
//! The gap between the two is the point. A process killed between a device acting and
//! its event being booked is the dangerous moment of every money path; here a "crash" is
//! dropping the orchestrator with events still in [`SimWorld::outbox`]: the coins stay
//! paid, the note stays stacked, the pages stay printed. [`SimWorld::restart`] then does
//! what the drivers do at start (the acceptor replays its buffer after the journal's
//! resume point, the validator returns a note in escrow, hoppers report their counters),
//! and [`SimWorld::physical`] is what the books are judged against.
//!
//! Test support: no kiosk runs this.

use kiosk_core::session::{Event, PrintFault};
use kiosk_core::{Coin, Note, Sheets};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

use crate::keys::counter_distance;
use crate::ports::{Hardware, HopperFacts, Input, JobFacts, Typeset, ValidatorFacts};

/// The serial every simulated device reports.
pub const SERIAL: u32 = 0x5107;

/// What physically happened, counted by the devices themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Physical {
    /// Won in coins the acceptor took.
    pub coins_in: u64,
    /// Won in notes the validator stacked.
    pub notes_in: u64,
    /// Won each hopper paid out.
    pub paid: BTreeMap<Coin, u64>,
    /// Pages the printer printed.
    pub pages: u64,
    /// Blank sheets lost in jams.
    pub jammed: u64,
    /// Whole copies printed, per issue number.
    pub copies: BTreeMap<String, u32>,
}

#[derive(Debug, Default, Clone)]
struct Hop {
    level: u32,
    counter: u8,
    last: (u32, u32),
}

#[derive(Debug, Clone)]
struct Job {
    pages: u32,
    printed: u32,
}

/// The machine's physical state and the events its devices have not reported yet.
#[derive(Debug, Default)]
pub struct SimWorld {
    /// Events the devices produced, in order, not yet delivered to the orchestrator.
    pub outbox: VecDeque<Input>,
    /// What physically happened.
    pub physical: Physical,
    accepting: bool,
    acceptor_counter: u8,
    acceptor_buffer: VecDeque<(u8, Coin)>,
    escrow: Option<Note>,
    stacked: u32,
    hoppers: BTreeMap<Coin, Hop>,
    jobs: BTreeMap<String, Job>,
    jam_next: Option<u32>,
}

impl SimWorld {
    /// A machine whose hoppers hold `coins`.
    pub fn new(coins: &[(Coin, u32)]) -> SimWorld {
        SimWorld {
            hoppers: coins
                .iter()
                .map(|&(c, n)| {
                    (
                        c,
                        Hop {
                            level: n,
                            ..Hop::default()
                        },
                    )
                })
                .collect(),
            ..SimWorld::default()
        }
    }

    /// Whether the acceptors take money now.
    pub fn accepting(&self) -> bool {
        self.accepting
    }

    /// A citizen drops a coin: taken only while the acceptor is enabled (else it falls
    /// through to the return cup).
    pub fn insert_coin(&mut self, coin: Coin) {
        if !self.accepting {
            return;
        }
        self.acceptor_counter = if self.acceptor_counter == 255 {
            1
        } else {
            self.acceptor_counter + 1
        };
        self.acceptor_buffer
            .push_front((self.acceptor_counter, coin));
        self.acceptor_buffer.truncate(5);
        self.physical.coins_in += coin.value().get();
        self.outbox.push_back(Input::CoinCredited {
            coin,
            serial: SERIAL,
            counter: self.acceptor_counter,
        });
    }

    /// A citizen feeds a note: held in escrow while the validator is enabled and empty.
    pub fn insert_note(&mut self, note: Note) {
        if !self.accepting || self.escrow.is_some() {
            return;
        }
        self.escrow = Some(note);
        self.outbox
            .push_back(Input::Event(Event::NoteEscrowed(note)));
    }

    /// The next print job jams after `pages` pages.
    pub fn jam_next(&mut self, pages: u32) {
        self.jam_next = Some(pages);
    }

    /// The process died: the events not delivered die with the drivers. The devices
    /// then start as the drivers start them, resuming after `acceptor_resume` (the
    /// journal's cursor).
    pub fn restart(&mut self, acceptor_resume: Option<u8>) {
        self.outbox.clear();
        self.accepting = false;
        // The ccTalk driver: everything after the resume point still in the buffer is
        // reported again; a gap wider than the buffer is reported as lost.
        let resume = acceptor_resume.unwrap_or(self.acceptor_counter);
        let gap = counter_distance(resume, self.acceptor_counter);
        if gap > 5 {
            self.outbox.push_back(Input::CoinsLost {
                serial: SERIAL,
                previous: resume,
                current: self.acceptor_counter,
                coins: self.acceptor_buffer.iter().rev().copied().collect(),
            });
        } else {
            let replay: Vec<(u8, Coin)> = self
                .acceptor_buffer
                .iter()
                .take(gap as usize)
                .rev()
                .copied()
                .collect();
            for (counter, coin) in replay {
                self.outbox.push_back(Input::CoinCredited {
                    coin,
                    serial: SERIAL,
                    counter,
                });
            }
        }
        // With no resume point the driver takes the device's counter as its baseline and
        // reports it, so the daemon records one before any coin can come.
        if gap > 0 || acceptor_resume.is_none() {
            self.outbox.push_back(Input::CoinCounter {
                serial: SERIAL,
                counter: self.acceptor_counter,
            });
        }
        // SSP: the driver's REJECT at start hands a note in escrow back.
        self.escrow = None;
        for (&coin, h) in &self.hoppers {
            self.outbox.push_back(Input::HopperCounter {
                coin,
                counter: h.counter,
            });
        }
    }
}

/// Typesets each document type (with its options) once for real and hands out that
/// certificate again: the simulation judges money and paper, and real typesetting of
/// every copy would be most of its time.
pub struct OncePerType<T: Typeset> {
    inner: T,
    done: Mutex<BTreeMap<String, (Vec<u8>, usize)>>,
}

impl<T: Typeset> OncePerType<T> {
    /// Around a real typesetter.
    pub fn new(inner: T) -> OncePerType<T> {
        OncePerType {
            inner,
            done: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T: Typeset> Typeset for OncePerType<T> {
    fn typeset(
        &self,
        req: &kiosk_render::RenderRequest,
        key: &kiosk_render::SigningKey,
    ) -> Result<(Vec<u8>, usize), String> {
        let which = format!("{}{:?}", req.code, req.options);
        if let Some(done) = self
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&which)
        {
            return Ok(done.clone());
        }
        let made = self.inner.typeset(req, key)?;
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(which, made.clone());
        Ok(made)
    }
}

/// The devices of a [`SimWorld`], as the orchestrator commands them.
#[derive(Clone)]
pub struct SimHardware {
    /// The world.
    pub world: Arc<Mutex<SimWorld>>,
}

impl SimHardware {
    fn with<R>(&self, f: impl FnOnce(&mut SimWorld) -> R) -> R {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut w)
    }
}

impl Hardware for SimHardware {
    fn set_acceptors(&mut self, on: bool) {
        self.with(|w| w.accepting = on);
    }

    fn stack_note(&mut self, note: Note) {
        self.with(|w| {
            if w.escrow.take() == Some(note) {
                w.stacked += 1;
                w.physical.notes_in += note.value().get();
                let stacked = w.stacked;
                w.outbox.push_back(Input::NoteCredited {
                    note,
                    serial: SERIAL,
                    stacked,
                });
            }
        });
    }

    fn return_note(&mut self, note: Note) {
        self.with(|w| {
            if w.escrow.take() == Some(note) {
                w.outbox.push_back(Input::Event(Event::NoteReturned(note)));
            }
        });
    }

    fn dispense(&mut self, coin: Coin, count: u32, intent: String) {
        self.with(|w| {
            let Some(h) = w.hoppers.get_mut(&coin) else {
                w.outbox.push_back(Input::HopperSettled {
                    coin,
                    paid: 0,
                    unpaid: count,
                    intent,
                    counter: None,
                });
                return;
            };
            let paid = count.min(h.level);
            h.level -= paid;
            // One batch per 255 coins, as the ccTalk driver pays.
            for _ in 0..count.div_ceil(255).max(1) {
                h.counter = if h.counter == 255 { 1 } else { h.counter + 1 };
            }
            let last_batch = count - 255 * (count.div_ceil(255).max(1) - 1);
            let paid_last = paid.saturating_sub(count - last_batch);
            h.last = (paid_last, last_batch - paid_last);
            let counter = h.counter;
            *w.physical.paid.entry(coin).or_default() += coin.value().get() * u64::from(paid);
            w.outbox.push_back(Input::HopperSettled {
                coin,
                paid,
                unpaid: count - paid,
                intent,
                counter: Some(counter),
            });
        });
    }

    fn print(&mut self, job: u32, name: String, _pdf: Arc<Vec<u8>>, pages: u32) {
        self.with(|w| {
            let out = w.jam_next.take().map_or(pages, |j| j.min(pages));
            w.physical.pages += u64::from(out);
            w.jobs.insert(
                name.clone(),
                Job {
                    pages,
                    printed: out,
                },
            );
            for _ in 0..out {
                w.outbox.push_back(Input::Event(Event::PagePrinted { job }));
            }
            if out == pages {
                // The job name is S<session>-<issue>-<copy>.
                let issue = name
                    .split_once('-')
                    .and_then(|(_, rest)| rest.rsplit_once('-'))
                    .map(|(issue, _)| issue.to_owned())
                    .unwrap_or_default();
                *w.physical.copies.entry(issue).or_default() += 1;
                w.outbox
                    .push_back(Input::Event(Event::CopyCompleted { job }));
            } else {
                w.physical.jammed += 1;
                w.outbox.push_back(Input::Event(Event::PrintFailed {
                    job,
                    fault: PrintFault::Jam,
                    spoiled: Sheets::new(1),
                }));
            }
        });
    }

    fn print_receipt(&mut self, _lines: Vec<String>, _iou: Option<String>) {}

    fn scan_finger(&mut self, _rrn: Zeroizing<String>) {
        self.with(|w| {
            w.outbox
                .push_back(Input::FingerScanned(Ok(Zeroizing::new(vec![b'7']))))
        });
    }

    fn printer_ok(&self) -> bool {
        true
    }

    async fn last_dispense(&self, coin: Coin) -> Result<HopperFacts, String> {
        self.with(|w| {
            let h = w.hoppers.get(&coin).ok_or("no such hopper")?;
            Ok(HopperFacts {
                counter: h.counter,
                paid: u8::try_from(h.last.0).map_err(|e| e.to_string())?,
                unpaid: u8::try_from(h.last.1).map_err(|e| e.to_string())?,
            })
        })
    }

    async fn settle_validator(&self) -> Result<ValidatorFacts, String> {
        self.with(|w| {
            w.escrow = None;
            Ok(ValidatorFacts {
                serial: SERIAL,
                stacked: w.stacked,
            })
        })
    }

    async fn find_job(&self, name: &str) -> Result<Option<JobFacts>, String> {
        self.with(|w| {
            Ok(w.jobs.get(name).map(|j| JobFacts {
                job_id: 1,
                pages: j.printed.min(j.pages),
                ended: true,
                aborted: j.printed < j.pages,
            }))
        })
    }

    async fn cancel_job(&self, _job_id: i32) -> Result<(), String> {
        Ok(())
    }
}
