"""Sign-in, sessions, CSRF and redirects of the web view, and its security headers."""

from __future__ import annotations

from pathlib import Path

from prefect_artifacts._web.security import CSP, safe_next
from prefect_artifacts._web.session import COOKIE, issue, verify
from tests.web.conftest import BASE, Teams


def test_pages_need_a_session_and_come_back_after_sign_in(teams: Teams) -> None:
    client = teams.client()
    r = client.get("/ui/?search=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=%2Fui%2F%3Fsearch%3Dx"
    r = client.get("/ui/login?next=/ui/%3Fsearch%3Dx")
    assert r.status_code == 200 and 'id="login-key"' in r.text
    r = client.post("/ui/login", data={"key": "pa_nope_bad", "next": "/ui/"}, headers={"Origin": BASE})
    assert r.status_code == 401 and "Invalid or revoked" in r.text and COOKIE not in client.cookies
    r = client.post("/ui/login", data={"key": teams.keys["ann"][1], "next": "/ui/?search=x"}, headers={"Origin": BASE},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/?search=x"
    cookie = r.headers["set-cookie"]
    for part in ("HttpOnly", "SameSite=strict", "Path=/ui", "Max-Age=43200"):
        assert part.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http here
    page = client.get("/ui/")
    assert page.status_code == 200 and '<span id="user">ann</span>' in page.text and 'id="logout"' in page.text


def test_session_cookie_over_https_is_secure(teams: Teams) -> None:
    client = teams.client()
    client.base_url = "https://testserver"  # type: ignore[assignment]
    r = client.post("/ui/login", data={"key": teams.keys["ann"][1]}, headers={"Origin": "https://testserver"},
                    follow_redirects=False)
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_cross_origin_or_originless_sign_in_is_refused(teams: Teams) -> None:
    client = teams.client()
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/ui/login"}, {},
                    {"Origin": "null"}):
        r = client.post("/ui/login", data={"key": teams.keys["ann"][1]}, headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
    r = client.post("/ui/login", data={"key": teams.keys["ann"][1]}, headers={"Referer": f"{BASE}/ui/login"},
                    follow_redirects=False)
    assert r.status_code == 303


def test_sign_out_needs_the_csrf_token_and_the_same_origin(teams: Teams) -> None:
    client = teams.sign_in("ann")
    page = client.get("/ui/").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert len(token) == 64
    assert client.post("/ui/logout", data={}, headers={"Origin": BASE}).status_code == 403
    assert client.post("/ui/logout", data={"csrf": "0" * 64}, headers={"Origin": BASE}).status_code == 403
    assert client.post("/ui/logout", data={"csrf": token}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get("/ui/").status_code == 200  # still signed in
    r = client.post("/ui/logout", data={"csrf": token}, headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert f'{COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions_at_once(teams: Teams) -> None:
    client = teams.sign_in("ann")
    assert client.get("/ui/").status_code == 200
    teams.auth.revoke_key(teams.keys["ann"][0])
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_forged_expired_or_foreign_cookies_are_not_sessions(teams: Teams) -> None:
    key_id, _secret = teams.keys["ann"]
    found = teams.auth.session_key(key_id)
    assert found is not None
    value, _ = issue(key_id, found[0])
    assert verify(teams.auth, value) is not None
    kid, expires, mac = value.split(".")
    assert verify(teams.auth, f"{kid}.{int(expires) + 1}.{mac}") is None  # lifetime extended: bad mac
    assert verify(teams.auth, f"{teams.keys['ben'][0]}.{expires}.{mac}") is None  # another key's id
    assert verify(teams.auth, issue(key_id, found[0], now=0)[0]) is None  # expired
    assert verify(teams.auth, issue(key_id, "ab" * 32)[0]) is None  # signed without the stored hash
    for junk in ("", "a.b", "x.1.y.z", "." * 300):
        assert verify(teams.auth, junk) is None
    client = teams.client()
    client.cookies.set(COOKIE, f"{kid}.{int(expires) + 1}.{mac}", path="/ui")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_next_must_be_a_local_ui_path() -> None:
    for bad in ("//evil.example/ui/", "https://evil.example/ui/", "/\\evil.example", "/ui\\..\\x", "/api/v1/x",
                "javascript:alert(1)", "/ui/../api", "/ui/\r\nSet-Cookie: x", ""):
        assert safe_next(bad) == "/ui/", bad
    assert safe_next("/ui/artifacts/abc?file=a%20b") == "/ui/artifacts/abc?file=a%20b"


def test_login_form_never_redirects_off_site(teams: Teams) -> None:
    client = teams.client()
    r = client.post("/ui/login", data={"key": teams.keys["ann"][1], "next": "//evil.example/"},
                    headers={"Origin": BASE}, follow_redirects=False)
    assert r.headers["location"] == "/ui/"
    r = client.get("/ui/login?next=https://evil.example/", follow_redirects=False)  # signed in: straight on
    assert r.headers["location"] == "/ui/"
    r = teams.client().get("/ui/login?next=https://evil.example/")
    assert 'name="next" value="/ui/"' in r.text


def test_every_ui_response_carries_the_security_headers(teams: Teams, tmp_path: Path) -> None:
    client = teams.sign_in("ann")
    for path in ("/ui/", "/ui/login", "/ui/?search=name:(", "/ui/artifacts/missing", "/ui/static/style.css",
                 "/ui/no/such/page", "/ui/?search=" + "x" * 20_000):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
    assert client.get("/ui/no/such/page").status_code == 404
    assert client.get("/ui/static/style.css").status_code == 200 and client.get("/ui/static/app.js").status_code == 200
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/" and r.headers["content-security-policy"] == CSP
    assert "content-security-policy" not in client.get("/api/v1/health").headers


def test_no_sign_in_without_keys(local: tuple[object, object]) -> None:
    _registry, client = local
    page = client.get("/ui/")  # type: ignore[attr-defined]
    assert page.status_code == 200 and 'id="logout"' not in page.text and "no sign-in" in page.text
    assert client.get("/ui/login", follow_redirects=False).status_code == 303  # type: ignore[attr-defined]
