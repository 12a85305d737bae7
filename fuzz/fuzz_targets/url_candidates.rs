//! `UrlVariants::candidates` and `url::mask_userinfo` on arbitrary strings.
//!
//! Checks, for the default variants with and without configured userinfo and for
//! `UrlVariants::none()`: no panic; the URL as seen is the first candidate; `len()` is the
//! number of candidates; candidates are distinct; `find_map` visits them in `to_vec` order
//! and stops at the first `Some`; the query (after the first `?`) is never changed; `none()`
//! yields the URL alone. `mask_userinfo` never panics, changes nothing but the password, and
//! leaves no password in.
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tower_twilio::url::mask_userinfo;
use tower_twilio::UrlVariants;

fn variants() -> &'static [UrlVariants; 4] {
    static VARIANTS: OnceLock<[UrlVariants; 4]> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        [
            UrlVariants::default(),
            UrlVariants::default().userinfo(Some("u:p")),
            UrlVariants::none().port(true),
            UrlVariants::none(),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let url = String::from_utf8_lossy(data);
    let url: &str = &url;
    for (n, variants) in variants().iter().enumerate() {
        let candidates = variants.candidates(url);
        let all = candidates.to_vec();
        assert!(!all.is_empty() && !candidates.is_empty());
        assert_eq!(all.len(), candidates.len());
        assert_eq!(all[0], url, "the URL as seen comes first");
        assert_eq!(candidates.url(), url);
        if n == 3 {
            assert_eq!(all.len(), 1, "UrlVariants::none() tries the URL alone");
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b, "duplicate candidate for {url:?}: {all:?}");
            }
            // The query bytes are never touched.
            assert_eq!(
                a.split_once('?').map(|(_, q)| q),
                url.split_once('?').map(|(_, q)| q),
                "candidate {a:?} of {url:?} changed the query"
            );
        }
        for (i, expected) in all.iter().enumerate() {
            let mut visited = 0;
            let hit = candidates.find_map(|candidate| {
                visited += 1;
                (visited == i + 1).then(|| candidate.to_owned())
            });
            assert_eq!(hit.as_ref(), Some(expected));
            assert_eq!(visited, i + 1, "find_map went on after a hit");
        }
        let mut visited = 0;
        assert_eq!(
            candidates.find_map::<()>(|_| {
                visited += 1;
                None
            }),
            None
        );
        assert_eq!(visited, all.len());
        // Debug masks every candidate; it must not panic.
        let _ = format!("{candidates:?}");
        for candidate in &all {
            check_mask(candidate);
        }
    }
    check_mask(url);
});

fn check_mask(url: &str) {
    let masked = mask_userinfo(url);
    common::check_masked(url, &masked);
}
