"""Mail templates: Jinja2 files, `<name>.txt` (required) and `<name>.html` (optional), in
`authgate/web/templates/mail/`, each replaceable by a file of the same name in `AUTHGATE_MAIL_TEMPLATES_DIR`.

The text template sets the subject: `{% set subject = "Reset your password" %}`. HTML templates are
autoescaped (text ones are not: they are not HTML), and an undefined variable is an error rather than an
empty string. With overrides, every template is rendered once at start-up with sample values, so a broken
override stops the start instead of the first mail; the packaged ones are held to that by the tests, and are
loaded (Jinja2 with them) when the first mail is rendered, not at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from authgate.domain.mail import MailMessage

if TYPE_CHECKING:
    import jinja2

TEMPLATES: dict[str, dict[str, object]] = {
    # name → the variables it gets (besides username, site, base_url, link, expires_in), with sample values
    "verify_email": {},
    "reset_password": {},
    "invitation": {},
    "login_link": {},
    "confirm_email_change": {"new_email": "new@example.com"},
    "email_changed": {"old_email": "old@example.com", "new_email": "new@example.com"},
    "account_exists": {"forgot_password_url": "http://127.0.0.1:8080/forgot-password"},
    "second_factor_changed": {"change": "disabled"},
    "passkey_changed": {"change": "added", "passkey_name": "Phone"},
    "account_deleted": {},
}
COMMON_SAMPLE: dict[str, object] = {
    "username": "alice",
    "site": "127.0.0.1:8080",
    "base_url": "http://127.0.0.1:8080",
    "link": "http://127.0.0.1:8080/verify-email?token=sample",
    "expires_in": "24 hours",
}


class TemplateError(Exception):
    """A mail template is missing or broken."""


class JinjaMailTemplates:
    def __init__(self, override_dir: str | Path | None = None) -> None:
        self.override_dir = override_dir
        self._env: jinja2.Environment | None = None

    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:
            import jinja2

            loaders: list[jinja2.BaseLoader] = [jinja2.PackageLoader("authgate", "web/templates/mail")]
            if self.override_dir is not None:
                loaders.insert(0, jinja2.FileSystemLoader(str(self.override_dir)))
            self._env = jinja2.Environment(
                loader=jinja2.ChoiceLoader(loaders),
                autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                auto_reload=False,
            )
        return self._env

    def check(self) -> None:
        """Render every template with sample values; TemplateError names the first that fails."""
        for name, sample in TEMPLATES.items():
            self.render(name, "alice@example.com", {**COMMON_SAMPLE, **sample})

    def render(self, name: str, to: str, context: Mapping[str, object], link: str | None = None) -> MailMessage:
        import jinja2

        try:
            module = self.env.get_template(f"{name}.txt").make_module(dict(context))
            subject = " ".join(str(getattr(module, "subject", "")).split())
            if not subject:
                raise TemplateError(f'mail template {name}.txt: set the subject: {{% set subject = "..." %}}')
            text = str(module)
            try:
                html: str | None = self.env.get_template(f"{name}.html").render(dict(context, subject=subject))
            except jinja2.TemplateNotFound:
                html = None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"mail template {exc.name} not found") from None
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'name', None) or name}:{getattr(exc, 'lineno', '?')}"
            raise TemplateError(f"mail template {where}: {exc.message}") from None
        return MailMessage(to=to, subject=subject, text=text, html=html, template=name, link=link)
