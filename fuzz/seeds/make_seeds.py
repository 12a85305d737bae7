#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/ (run from anywhere).

Realistic inputs, most taken from tests/vectors/*.json; each target's format is described
at the top of its fuzz_targets/<target>.rs.
"""
import hashlib
import json
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent.parent / "tests" / "vectors"


def vectors():
    out = {}
    for name in ["official.json", "generated.json"]:
        for v in json.loads((VECTORS / name).read_text())["vectors"]:
            out[v["name"]] = v
    return out


def write(target, name, data):
    path = HERE / target / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def control(*bytes_):
    return bytes(list(bytes_) + [0] * (8 - len(bytes_)))


def main():
    v = vectors()
    for target in ["form_canonical", "url_candidates", "proxy_headers", "signature_settings", "layer"]:
        shutil.rmtree(HERE / target, ignore_errors=True)
        (HERE / target).mkdir()

    # form_canonical: raw form bodies.
    for name in ["std", "repeated-digits", "key-prefix-sort", "sms-unicode", "empty-values", "repeated-keys"]:
        write("form_canonical", name, v[name]["body"])
    write("form_canonical", "awkward-escapes", "a=%&b=%4&c=%4g&%2B=%2b&a+b=c+d&=x&y=&&z")
    write("form_canonical", "invalid-utf8", b"a=%FF%FE&b=ok&k=%00&\xff=\xfe")

    # url_candidates: URLs as the layer rebuilds them.
    for i, url in enumerate([
        v["std"]["url"],
        v["credentials-in-url-443"]["url"],
        "http://[2001:db8::1]:8080/voice/?a=1",
        "wss://example.com/media/",
        "HTTPS://Example.COM/Voice/",
        "ftp://h:21/x",
        "https://example.com/voice?",
        "http://h#/frag/",
    ]):
        write("url_candidates", f"url-{i}", url)

    # proxy_headers: header lines (each line also tried as a port, prefix, proto, proxy list
    # and fixed base URL).
    write("proxy_headers", "forwarded-two-hops",
          'for=203.0.113.9;proto=http;host=evil.example\n'
          'for="[2001:db8::1]:4711";proto=https;host="hooks.example.com:8443"')
    write("proxy_headers", "forwarded-quoted", 'for="a,b;c";Host="h\\"x:1";PROTO=https, proto=wss')
    write("proxy_headers", "x-forwarded-lists", "https, http\n https \n8443\n/twilio/\nwss")
    write("proxy_headers", "config", "10.0.0.0/8, 192.168.0.1\nhttps://hooks.example.com:8443/twilio\n::1")

    # signature_settings: settings headers, signature headers, URL + body.
    write("signature_settings", "settings-sha256", v["sharedkey-sha256"]["signature_settings"])
    write("signature_settings", "settings-extra", " algorithm=HMAC_SHA1 , key=a ,future=1")
    write("signature_settings", "sig-sha1", v["std"]["signature"])
    write("signature_settings", "sig-sha256", v["sharedkey-sha256"]["signature"])
    body = '{"a":1}'
    write("signature_settings", "body-hash",
          f"https://x.test/e?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}#" + body * 9)

    # layer, raw mode: control bytes (config | peer << 2, ...), then an HTTP/1.1-like request.
    def request(method, target, headers, body):
        lines = [f"{method} {target}"] + [f"{k}: {val}" for k, val in headers] + ["", body]
        return "\r\n".join(lines)

    def vector_request(vec, extra=()):
        url = vec["url"]
        rest = url.split("://", 1)[1]
        cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
        host, target = rest[:cut].rsplit("@", 1)[-1], rest[cut:] or "/"
        headers = [("Host", host), ("Content-Type", vec["content_type"]),
                   ("X-Twilio-Signature", vec["signature"])]
        if vec.get("signature_settings"):
            headers.append(("X-Twilio-Webhooks-Signature-Settings", vec["signature_settings"]))
        method = "GET" if not vec["body"] else "POST"
        return request(method, target, headers + list(extra), vec["body"])

    write("layer", "raw-std", control(0) + vector_request(v["std"]).encode())
    write("layer", "raw-json", control(1) + vector_request(v["json-body"]).encode())
    write("layer", "raw-sharedkey", control(2) + vector_request(v["sharedkey-sha256"]).encode())
    write("layer", "raw-get", control(0, 1) + vector_request(v["empty-body-get"]).encode())
    write("layer", "raw-proxy", control(0, 1, 0, 7, 0b1010, 1) + vector_request(v["voice-query"], [
        ("X-Forwarded-Proto", "http, https"), ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Host", "example.com"), ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Prefix", "/twilio/")]).encode())
    write("layer", "raw-forwarded", control(1 | 1 << 2) + vector_request(v["sms-unicode"], [
        ("Forwarded", 'for=192.0.2.1;proto=https;host="example.com:8443", proto=https;host=example.com')]).encode())
    write("layer", "raw-websocket", control(3) + request(
        "GET", "/media?x=1", [("Host", "[::1]:3000"), ("Upgrade", "websocket"),
                             ("Connection", "Upgrade"), ("X-Fuzz-Signature-Of", "abc")], "").encode())
    write("layer", "raw-lying-length", control(0, 0, 0, 3, 0xff, 2) + request(
        "POST", "/voice", [("Host", "example.com"), ("Content-Type", "application/x-www-form-urlencoded"),
                           ("Content-Length", "3"), ("X-Fuzz-Signature-Of", "0123456789012345678901")],
        v["voice-https"]["body"]).encode())
    write("layer", "raw-absolute-form", control(2 << 2) + request(
        "POST", "http://user:pw@example.com:8080/voice/", [
            ("Host", "other.example"), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Fuzz-Signature-Of", "x")], "CallSid=CA1&Digits=1&Digits=2").encode())
    write("layer", "raw-too-large", control(0, 1) + request(
        "POST", "/big", [("Host", "example.com"), ("Content-Type", "application/json"),
                         ("X-Fuzz-Signature-Of", "")], "x" * 4097).encode())

    write("layer", "raw-resolver-down", control(16) + vector_request(v["voice-https"]).replace(
        "AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "AccountSid=ACdown").encode())
    write("layer", "raw-resolver-get", control(16, 0, 0, 1, 1) + request(
        "GET", "/voice?AccountSid=ACunknown&CallSid=CA1", [("Host", "example.com"),
                                                          ("X-Fuzz-Signature-Of", "sig")], "").encode())

    # layer, signed mode: 0x80 | config | kind << 2; the path and query line, then the body.
    form = v["voice-https"]["body"]
    write("layer", "signed-form", control(0x80, 0, 0) + ("/voice?foo=1&bar=2\n" + form).encode())
    write("layer", "signed-form-variants", control(0x80 | 1, 0b0110_0001, 0b111, 5, 0x55, 1)
          + ("/twilio/voice/\n" + v["key-prefix-sort"]["body"]).encode())
    write("layer", "signed-form-proxy", control(0x80, 0b0001_0110, 0b011) + ("/sms/?\n" + v["sms-unicode"]["body"]).encode())
    write("layer", "signed-get", control(0x80 | 1 << 2, 0b1000) + ("/voice?CallSid=CA1&From=%2B14158675309\n").encode())
    write("layer", "signed-json", control(0x80 | 2 | 2 << 2, 2) + ("/events?source=studio\n" + v["json-bodysha256"]["body"]).encode())
    write("layer", "signed-websocket", control(0x80 | 3 << 2, 0b1100) + b"/media\n")
    write("layer", "signed-resolver", control(0x80 | 3, 0, 0, 9, 0xf0) + ("/voice\n" + form).encode())
    write("layer", "signed-fixed", control(0x80 | 2, 1, 1) + ("/voice\n" + v["repeated-keys"]["body"]).encode())


if __name__ == "__main__":
    main()
