//! The e-government network as the orchestrator sees it ([`Network`]): the kiosk-egov
//! client behind it, plus the simulated fingerprint scanner's template lookup.

use zeroize::Zeroizing;

/// Bound of a simulator reply read by the simulated scanner.
const MAX_PEOPLE_REPLY: usize = 4 << 20;

/// The simulated scanner: the synthetic template of the person with this resident number,
/// published by egov-sim's admin endpoint (synthetic data only).
pub async fn simulated_template(url: &str, rrn: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let body = client
        .get(format!("{url}?limit=100000"))
        .send()
        .await
        .map_err(|e| format!("scanner: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("scanner: {e}"))?;
    if body.len() > MAX_PEOPLE_REPLY {
        return Err("scanner: reply too large".into());
    }
    let people: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("scanner: {e}"))?;
    let list = people
        .as_array()
        .or_else(|| people.get("people").and_then(|p| p.as_array()))
        .ok_or("scanner: no list of people")?;
    let digits: String = rrn.chars().filter(char::is_ascii_digit).collect();
    for p in list {
        let r = p
            .get("resident_number")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let r: String = r.chars().filter(char::is_ascii_digit).collect();
        if r == digits {
            let hex_t = p
                .get("fingerprint")
                .or_else(|| p.get("fingerprint_hex"))
                .and_then(|v| v.as_str())
                .ok_or("scanner: no template")?;
            return hex::decode(hex_t)
                .map(Zeroizing::new)
                .map_err(|e| format!("scanner: {e}"));
        }
    }
    // Nobody with that number: an unknown finger (the network will not match it).
    Ok(Zeroizing::new(vec![0u8; 32]))
}
