"""The end-of-observation summary (HTML) and its optional e-mail through a configured SMTP server."""

from __future__ import annotations

import html
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import pandas as pd

from skyspool.frb.observation import Observation
from skyspool.frb.triage import LABELS

_TRIGGER_COLUMNS = ["time", "utc", "cb", "beam", "dm", "snr", "width", "members", "label", "dump", "lofar", "reason"]


@dataclass(frozen=True)
class SmtpSettings:
    """Where and to whom the summary goes. ``password_env`` names an environment variable holding
    the password (never the password itself), used with ``username``."""

    host: str
    port: int = 25
    sender: str = "skyspool@localhost"
    to: tuple[str, ...] = ()
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = 30.0

    @classmethod
    def from_config(cls, config: dict) -> SmtpSettings:
        """Build from a mapping with the field names (``to`` a list); ValueError for unknown keys."""
        try:
            settings = cls(**{**config, "to": tuple(config.get("to") or ())})
        except TypeError as exc:
            raise ValueError(f"email settings: {exc}") from None
        if not settings.to:
            raise ValueError("email settings: 'to' lists no recipient")
        return settings


def summary_html(obs: Observation, clusters: pd.DataFrame, triggers: pd.DataFrame, *,
                 n_candidates: int, plot_name: str | None = None) -> str:
    """An HTML page: observation facts, cluster counts per label, the triggers, the strongest
    clusters, and the candidate plot ``plot_name`` (a file beside the page) if given."""
    esc = html.escape
    counts = clusters["label"].value_counts() if len(clusters) else pd.Series(dtype=int)
    facts = {"observation": obs.id, "start (UTC)": obs.start.isot, "telescope": obs.telescope,
             "backend": obs.backend, "source": obs.source or "(none)", "test": obs.test,
             "compound beams": len(obs.beams), "candidates": n_candidates, "clusters": len(clusters),
             "triggers": len(triggers)}
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items())
    rows += "".join(f"<tr><th>{esc(label)}</th><td>{int(counts.get(label, 0))}</td></tr>" for label in LABELS)
    cols = [c for c in _TRIGGER_COLUMNS if c in triggers]
    top = clusters.nlargest(20, "snr") if len(clusters) else clusters
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>FRB observation {esc(obs.id)}</title>",
        "<style>body{font-family:sans-serif} table{border-collapse:collapse} "
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head><body>",
        f"<h1>FRB observation {esc(obs.id)}</h1>", f"<table>{rows}</table>",
        "<h2>Triggers</h2>",
        triggers[cols].to_html(index=False, float_format="%.2f") if len(triggers) else "<p>No triggers.</p>",
        "<h2>Strongest clusters</h2>",
        top.drop(columns=["row"], errors="ignore").to_html(index=False, float_format="%.2f") if len(top)
        else "<p>No clusters.</p>",
    ]
    if plot_name:
        parts.append(f'<h2>Candidates</h2><img src="{esc(plot_name)}" alt="candidates in DM and time">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


#: What DARC's LOFAR trigger e-mail lists, in its order: (record key, label, format).
_LOFAR_EMAIL_FIELDS = [("dm", "Dispersion measure (pc cm^-3)", "{:.2f}"), ("snr", "S/N", "{:.2f}"),
                       ("time", "AMBER arrival time (s)", "{:.2f}"), ("width_ms", "Width (ms)", "{:.2f}"),
                       ("flux_jy", "Flux density (Jy)", "{:.2f}"), ("cb", "Compound beam", "{:02d}"),
                       ("beam", "Synthesised beam", "{:02d}"), ("utc", "Arrival time (UTC, top of the band)", "{}"),
                       ("lofar_stop_utc", "LOFAR TBB freeze time (UTC)", "{}")]


def lofar_trigger_html(obs: Observation, record: dict) -> str:
    """The e-mail DARC sends when a LOFAR trigger goes out: the trigger's facts as an HTML table."""
    esc = html.escape
    rows = [("Observation", obs.id)] + [(label, fmt.format(record[key])) for key, label, fmt in _LOFAR_EMAIL_FIELDS
                                         if record.get(key) is not None]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>LOFAR trigger {esc(obs.id)}</title>'
            f"</head><body><h1>LOFAR trigger sent</h1><table>{table}</table></body></html>\n")


def send_email(page: str, subject: str, settings: SmtpSettings, attachments: dict[str, bytes] | None = None) -> None:
    """Send ``page`` (HTML, with a plain-text fallback) to the configured recipients; ``attachments``
    maps file names to PNG bytes. Errors from the server propagate (smtplib.SMTPException, OSError)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg.set_content("This summary is HTML; open it in a mail reader that shows HTML.")
    msg.add_alternative(page, subtype="html")
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="image", subtype="png", filename=name)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, os.environ.get(settings.password_env or "", ""))
        smtp.send_message(msg)
