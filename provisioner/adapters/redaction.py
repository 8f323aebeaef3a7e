"""Secrets out of every text provisioner keeps or shows: diffs, messages, logs, command lines."""

from __future__ import annotations

import re

REDACTED = "<redacted>"

# --- Defence in depth on top of no_log: secret values never reach history, summaries, reports
# or logs, even from a task that forgot no_log. Over-masking is the safe side.
_SECRET_KEY = (
    r"[\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[ _-]?key|preshared[ _-]?key|psk|credentials?)"
)
# key = value / key: value / "key": "value": a quoted value (spaces allowed) or the rest of the line
_SECRET_VALUE = re.compile(
    rf"(?im)(\b{_SECRET_KEY}[\"']?\s*[:=]\s*)"
    r"(?:(\")(?:[^\"\\\n]|\\.)*\"|(')[^'\n]*'|(?![\"'])[^\n,;&}\]]+)"
)
# Cisco IOS: password 7 <hash>, secret 9 <hash>, key 7 <hash>, username u password 0 <clear>
_IOS_TYPED = re.compile(r"(?i)\b((?:password|secret|key)\s+[0-9]\s+)\S+")
_IOS_USER = re.compile(
    r"(?im)^(\s*username\s+\S+(?:\s+privilege\s+\d+)?\s+(?:password|secret)\s+)(?![0-9]\s)\S+"
)
_IOS_COMMUNITY = re.compile(r"(?im)^(\s*snmp-server\s+community\s+)\S+")
# FortiOS: set password ENC <b64>, set psksecret <clear>
_FORTI_ENC = re.compile(r"\b(ENC\s+)\S+")
_FORTI_SET = re.compile(r"(?im)^(\s*set\s+\S*(?:pass|secret|psk|key)\S*\s+)(?!ENC\s).+$")
# HTTP credentials
# (a token has a digit or a symbol: "Token validation failed" stays readable)
_BEARER = re.compile(
    r"(?i)\b((?:bearer|basic|token)\s+)(?=[\w.~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"
)
_AUTH_HEADER = re.compile(r"(?im)\b((?:proxy-)?authorization\s*[:=]\s*).+$")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+)(?::[^/\s@]*)?@")
_URL_QUERY = re.compile(
    r"(?i)([?&;](?:[\w.-]*(?:token|secret|password|passwd|api[_-]?key|apikey|sig|signature"
    r"|auth|key|code))=)[^&#\s]+"
)
# PEM blocks (keys above all): the body goes, the armour lines stay; a truncated one too.
_PEM = re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----).*?(-----END \2-----)", re.DOTALL)
_PEM_OPEN = re.compile(r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(?:(?!-----END).)*\Z", re.DOTALL)
_CRYPT_HASH = re.compile(r"\$(?:1|2[aby]?|5|6|y|gy|7)\$[^\s\"':]+(?:\$[^\s\"':]+)*")


def _mask_value(match: re.Match[str]) -> str:
    quote = match.group(2) or match.group(3) or ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """Mask secrets in diff or message text.

    Values of secret-looking keys (quoted values with spaces included), PEM bodies, password
    hashes, Cisco IOS ``password 7 …``/``secret 9 …``, FortiOS ``ENC …`` and ``set <secret>``,
    ``Bearer …``/``Authorization:``, and credentials inside URLs (``user:pw@``, ``?token=``).
    """
    if not text:
        return text
    text = _PEM.sub(rf"\1\n{REDACTED}\n\3", text)
    text = _PEM_OPEN.sub(rf"\1\n{REDACTED}", text)
    text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _URL_QUERY.sub(rf"\1{REDACTED}", text)
    text = _AUTH_HEADER.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _IOS_USER.sub(rf"\1{REDACTED}", text)
    text = _IOS_TYPED.sub(rf"\1{REDACTED}", text)
    text = _IOS_COMMUNITY.sub(rf"\1{REDACTED}", text)
    text = _FORTI_ENC.sub(rf"\1{REDACTED}", text)
    text = _FORTI_SET.sub(rf"\1{REDACTED}", text)
    text = _SECRET_VALUE.sub(_mask_value, text)
    return _CRYPT_HASH.sub(REDACTED, text)
