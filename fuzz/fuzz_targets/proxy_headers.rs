//! The pure proxy-header parsers (`tower_twilio::proxy`) on arbitrary strings split into
//! lines, plus the configuration parsers a deployment feeds them from its environment
//! (`TrustedProxies::parse_list`, `PublicUrl::fixed`).
//!
//! The layer target covers the same functions as `PublicUrl::trusted_proxies` calls them on
//! a request (that resolve function is crate-private).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tower_twilio::proxy::{
    last_forwarded_element, last_list_value, parse_port, parse_prefix, parse_proto,
};
use tower_twilio::public_url::TrustedProxies;
use tower_twilio::PublicUrl;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();

    // Forwarded: never panics; parsing the lines one by one or joined by commas agrees
    // (each line is a list of elements, and the last element wins).
    let all = last_forwarded_element(lines.iter().copied());
    let each: Vec<_> = lines
        .iter()
        .map(|line| last_forwarded_element([*line]))
        .collect();
    if each.iter().all(Result::is_ok) {
        let last = each.iter().rev().find_map(|r| r.clone().unwrap());
        assert_eq!(all, Ok(last.clone()), "lines {lines:?}");
        assert_eq!(last_forwarded_element([lines.join(",").as_str()]), Ok(last));
    } else {
        assert!(all.is_err(), "a malformed line was accepted: {lines:?}");
    }
    if let Ok(Some(element)) = &all {
        for value in [&element.proto, &element.host].into_iter().flatten() {
            // A token is non-empty; only a quoted string can be empty.
            assert!(!value.is_empty() || text.contains("\"\""));
        }
    }

    // X-Forwarded-*: the last non-empty, trimmed item of the last line that has one.
    match last_list_value(lines.iter().copied()) {
        Some(value) => {
            assert!(!value.is_empty() && value.trim() == value && !value.contains(','));
            let line = lines
                .iter()
                .rev()
                .find(|l| l.split(',').any(|v| !v.trim().is_empty()))
                .expect("a value comes from some line");
            let expected = line.split(',').map(str::trim).rfind(|v| !v.is_empty());
            assert_eq!(Some(value), expected);
        }
        None => assert!(lines
            .iter()
            .all(|l| l.split(',').all(|v| v.trim().is_empty()))),
    }

    for line in &lines {
        match parse_port(line) {
            Ok(port) => {
                assert_eq!(port, *line);
                assert!(port.bytes().all(|b| b.is_ascii_digit()));
                assert!(port.parse::<u16>().is_ok_and(|n| n > 0));
            }
            Err(_) => assert!(
                line.is_empty()
                    || !line.bytes().all(|b| b.is_ascii_digit())
                    || !line.parse::<u16>().is_ok_and(|n| n > 0)
            ),
        }
        if let Ok(prefix) = parse_prefix(line) {
            assert!(prefix.is_empty() || prefix.starts_with('/'));
            assert!(!prefix.ends_with('/'));
            assert_eq!(prefix, line.trim_end_matches('/'));
            assert!(!prefix.contains(['?', '#', '\\', '"', ' ']));
            assert!(prefix.is_ascii());
        }
        let known = ["http", "https", "ws", "wss"]
            .iter()
            .find(|p| p.eq_ignore_ascii_case(line));
        match (parse_proto(line), known) {
            (Ok(secure), Some(p)) => assert_eq!(secure, p.len() > 2 && p.ends_with('s')),
            (Err(_), None) => {}
            (result, _) => panic!("parse_proto({line:?}) = {result:?}"),
        }
        if let Ok(proxies) = TrustedProxies::parse_list(line) {
            let _ = proxies.contains(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        if let Ok(public) = PublicUrl::fixed(line) {
            let _ = format!("{public:?}");
        }
    }
});
