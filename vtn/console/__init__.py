"""The web console: operators dispatch and watch, FSP users check their link. Served by the VTN itself.

Layout
------
- `router.py`     the console sub-application (`install_console`, mounted at `settings.console_path`,
                  default `/console`, only when `settings.console_enabled`): sign-in/out, home, HTML error
                  pages, security headers (CSP self-only, no inline script; X-Frame-Options DENY; no-store),
                  static files at `{console_path}/static` from `vtn/console/static/`.
- `operator.py`   operator pages: `router` (an `APIRouter`) served under `{console_path}/operator`, and `NAV`.
- `fsp.py`        FSP pages: `router` served under `{console_path}/fsp`, and `NAV`.
- `deps.py`       accounts, role checks, CSRF, and the `Viewer` for service calls.
- `templating.py` `render`, `redirect`, `flash`, `console_url`.
- `service.py`    accounts, invitations, the second factor and sessions; `totp.py` TOTP codes, QR codes and
                  recovery codes (pure functions); `cli.py` the `vtn users` commands; `models.py` the tables.

Adding pages (stage 2)
----------------------
Declare routes on `router` in `operator.py` / `fsp.py` (paths relative to the prefix; e.g.
`@router.get("/programs")` is `/console/operator/programs`). `router.py` already includes them with
`Depends(require_operator)` / `Depends(require_fsp)`, `Depends(csrf_protect)` and `Depends(refuse_nul)`, so
every route there needs a signed-in account of the right role (others get a 403 page; signed-out browsers are
redirected to the sign-in page, htmx requests get 401 with `HX-Redirect`) and every POST/PUT/PATCH/DELETE needs
the CSRF token (else 403); a NUL in the path, query or form is a 400 page. Type object ids in paths and
queries with the API's `OBJECT_ID_PATTERN` (`operator.ObjectId`, `fsp.ObjectId`). Add the section to the
module's `NAV` list of `(label, path)` to put it in the header. Put templates in `templates/operator/` and
`templates/fsp/`; extend `base.html` and fill `{% block content %}` (and `{% block head %}` for page CSS/JS
such as uPlot). Shared pieces are macros in
`templates/_macros.html`: `table(columns, testid=, caption=, classes=)` (a call block gives the rows; give each
cell `data-label="<column>"`, so a `.stack-table` reads as labelled cards at phone width), `input_field(errors,
name, label, value, type=, label_hint=, attrs=)` (label, input, hint from an optional call block, errors with
their rule IDs), `field_errors`, `described`, `status_badge`.

    from typing import Annotated
    from fastapi import Form, Request
    from vtn.console.deps import OperatorAccount, viewer_for_account
    from vtn.console.templating import redirect, render
    from vtn.core.deps import ReadSession, WriteSession
    from vtn.programs import service as programs

    @router.get("/programs")
    async def programs_page(request: Request, account: OperatorAccount, session: ReadSession):
        viewer = await viewer_for_account(session, account)      # BL Principal, every scope
        rows = await programs.list_programs(session, viewer, ...)
        return render(request, "operator/programs.html", {"title": "Programs", "programs": rows})

    @router.post("/programs")
    async def create_program(request: Request, account: OperatorAccount, session: WriteSession,
                             name: Annotated[str, Form(max_length=128)] = ""):
        viewer = await viewer_for_account(session, account)
        ...  # call the service; it raises BadRequest/Conflict/NotFound/Forbidden as for REST
        return redirect(request, "/operator/programs", message=f"Program {name} created", level="success")

Accounts and viewers (`vtn.console.deps`)
-----------------------------------------
- `CurrentAccount`, `OperatorAccount`, `FspAccount`: `Annotated` dependencies giving an `Account`
  (`username`, `role` (`AccountRole.OPERATOR|FSP`), `ven_names` (tuple), `csrf_token`, `is_operator`,
  `is_fsp`, `has_totp`). `optional_account(request)` returns None instead of redirecting. An operator that
  must still enrol a second factor (`VTN_CONSOLE_REQUIRE_MFA`) never gets past these: GET redirects to the
  enrolment page, other methods get a 403 page. Only the enrolment page and sign-out take `SessionAccount`,
  which lets such an account through (`Account.must_enrol`).
- `viewer_for_account(session, account, ven_name=None) -> Viewer`: the privacy unit the services take.
  An operator is a BL `Principal` with every scope; an FSP account is the VEN `Principal` of one bound
  VEN (`ven_name`, default its first), resolved with `vtn.auth.privacy.resolve_viewer`, so it sees what
  that VEN's token sees. A `ven_name` the account is not bound to → `NotFound` (404 page).
  `viewers_for_account(session, account)` gives one per bound VEN; `principal_for_account(...)` the
  Principal alone. Never query tables directly for data a REST client could read: call the service.
  `all_pages(lambda page: service.list_x(session, viewer, ..., page), cap=None)` walks a paged list call.
- Sessions: `vtn.core.deps.ReadSession` / `WriteSession` (committed after the handler returns; an
  exception rolls back). Service errors (`vtn.core.errors.ApiError` subclasses) become an error page
  with their status (a fragment for htmx); bad form input → 400 page; never a 500 for bad input.

Rendering (`vtn.console.templating`)
------------------------------------
- `render(request, "operator/x.html", context, status_code=200, headers=None, messages=[(level, text)])`
  injects `account`, `csrf_token`, `base` (console path), `url(path)` (→ `/console/<path>`),
  `static(path)` (→ `/console/static/<path>`), `nav`, `messages` (flashes), `is_htmx`, `title`.
  Autoescape is on and undefined variables are errors: never mark user data `|safe`.
- `redirect(request, "/operator/x", message=..., level="info|success|warning|error")`: 303 + flash.
- `flash(request, response, text, level)`; `console_url(request, path)`.
- Vendored assets: `static('vendor/htmx/htmx.min.js')` (already in base.html),
  `static('vendor/uplot/uPlot.iife.min.js')`, `static('vendor/uplot/uPlot.min.css')`; page scripts go in
  `static/` as files (the CSP refuses inline `<script>`, `on...=` attributes, `hx-on` and inline `style=`
  attributes are also refused by `style-src 'self'`; use classes in `console.css` or page CSS files).
  `console.js` confirms any `<form data-confirm="Really stop?">` before it submits.

CSRF
----
- HTML forms: `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">` in every POST form.
- htmx: `base.html` puts `hx-headers='{"X-CSRF-Token": ...}'` on `<body>`, so every hx-post/put/delete
  sends the header; nothing to do per element. Plain `fetch` from a static script: read the token from
  `JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]` and send `X-CSRF-Token`.
- Live updates: `hx-get` + `hx-trigger="every 2s"` (GET needs no token); when the session ends the
  server answers 401 with `HX-Redirect` to the sign-in page.
"""
