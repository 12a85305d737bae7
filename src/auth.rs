//! HTTP Basic and Digest authentication for TwiML URLs (work in progress).
