"""A database target parsed from a Postgres URL: validated, masked, and described.

We never hand the URL itself to libpq or to a child process: psycopg2 gets keyword arguments
and psql/the Supabase CLI get PG* environment variables, so the password never reaches argv
and unencoded special characters in it cannot confuse libpq's URI parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from supamigrate.brief import few
from supamigrate.connect.masking import SECRET_PARAM, mask, register_secret
from supamigrate.errors import ConfigError

EXPECTED = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
_SCHEMES = {"postgres", "postgresql"}
_DIRECT_HOST = re.compile(r"^db\.(?P<ref>[a-z0-9]{20})\.supabase\.(?:co|com|net)$")
_POOLER_HOST = re.compile(r"\.pooler\.supabase\.com$")
_POOLER_USER = re.compile(r"^[^.]+\.(?P<ref>[a-z0-9]{20})$")
# Query parameters libpq understands that we pass through as PG* environment variables.
# Every one libpq reads from the environment (PostgreSQL 17 docs, "Environment Variables"):
# a security setting (channel_binding, require_auth, gssencmode, ...) must reach psql and the
# CLI as it reaches psycopg2, never be dropped on the way.
_LIBPQ_ENV = {
    "hostaddr": "PGHOSTADDR",
    "passfile": "PGPASSFILE",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "requiressl": "PGREQUIRESSL",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcertmode": "PGSSLCERTMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "require_auth": "PGREQUIREAUTH",
    "sslnegotiation": "PGSSLNEGOTIATION",
}
# Every parameter libpq accepts in a URL (PostgreSQL 17 docs, "Parameter Key Words"); others
# (Prisma's pgbouncer=true, connection_limit, ...) would fail deep inside the driver.
_LIBPQ_PARAMS = frozenset(
    [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "requiressl",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
        "require_auth",
        "sslnegotiation",
    ]
)


@dataclass(frozen=True)
class DbTarget:
    """Where to connect. `password` is never printed: use `masked_url`/`describe`."""

    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()

    @property
    def masked_url(self) -> str:
        return self.url(with_password=False, placeholder=True)

    def url(self, *, with_password: bool = True, placeholder: bool = False) -> str:
        """The URL; without the password unless asked (for the Supabase CLI's --db-url)."""
        userinfo = quote(self.user, safe="")
        if self.password and with_password:
            userinfo += ":" + quote(self.password, safe="")
        elif self.password and placeholder:
            userinfo += ":***"
        host = f"[{self.host}]" if ":" in self.host else self.host
        hide = placeholder or not with_password  # a secret parameter is shown as *** then
        query = "&".join(
            f"{k}={'***' if hide and SECRET_PARAM.match(k) else quote(v, safe='')}"
            for k, v in self.params
        )
        tail = f"?{query}" if query else ""
        return f"postgresql://{userinfo}@{host}:{self.port}/{quote(self.database, safe='')}{tail}"

    def with_database(self, database: str) -> DbTarget:
        return DbTarget(self.host, self.port, self.user, database, self.password, self.params)

    def with_user(self, user: str, password: str | None) -> DbTarget:
        return DbTarget(self.host, self.port, user, self.database, password, self.params)

    def connect_kwargs(self, connect_timeout: int = 10) -> dict[str, str | int]:
        """Keyword arguments for psycopg2.connect."""
        kwargs: dict[str, str | int] = dict(self.params)
        kwargs.update(host=self.host, port=self.port, user=self.user, dbname=self.database)
        kwargs.setdefault("connect_timeout", connect_timeout)
        # Migration files are UTF-8 and sent as such: say so, whatever the server's default.
        kwargs.setdefault("client_encoding", "UTF8")
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def libpq_env(self, connect_timeout: int = 10) -> dict[str, str]:
        """PG* variables for psql and the Supabase CLI: the password travels here, not in argv."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
            "PGCONNECT_TIMEOUT": str(connect_timeout),
            "PGCLIENTENCODING": "UTF8",  # psql sends the files' UTF-8 bytes as they are
        }
        for key, value in self.params:
            if key in _LIBPQ_ENV:
                env[_LIBPQ_ENV[key]] = value
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    @property
    def project_ref(self) -> str | None:
        """The Supabase project ref, when the host or the pooler user name reveals it."""
        direct = _DIRECT_HOST.match(self.host)
        if direct:
            return direct.group("ref")
        pooled = _POOLER_USER.match(self.user)
        if pooled and self.is_supabase_pooler:
            return pooled.group("ref")
        return None

    @property
    def is_supabase_pooler(self) -> bool:
        return bool(_POOLER_HOST.search(self.host))

    @property
    def connection_kind(self) -> str:
        """direct, transaction pooler (Supavisor :6543) or session pooler (:5432)."""
        if not self.is_supabase_pooler:
            return "direct"
        return "transaction pooler" if self.port == 6543 else "session pooler"

    def describe(self) -> str:
        """One line for the target banner: host, port, database, user, ref, connection kind."""
        parts = [f"{self.host}:{self.port}", f"database {self.database}", f"user {self.user}"]
        if self.project_ref:
            parts.append(f"project {self.project_ref}")
        parts.append(self.connection_kind)
        return mask(", ".join(parts))


def parse_db_url(
    url: str, *, source: str = "database URL", password: str | None = None
) -> DbTarget:
    """Parse and validate a Postgres URL; a bad one is a one-line ConfigError (exit 2).

    `password` fills in a URL without one (for example SUPABASE_DB_PASSWORD).
    """
    text = url.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _bad_url(text, source, "it contains a line break or control character")
    if _at_after_the_host(text):
        # An unencoded '/', '?' or '#' in the password ends the host early: what follows it
        # (part of the password) would be read as the host, the path, the query or dropped.
        # Which '@' ends the password cannot be told, so none of the URL is shown.
        raise ConfigError(
            f"{source} is not a valid Postgres URL (it has a password and an '@' after a '/', "
            f"'?' or '#'; not shown): expected {EXPECTED}. Percent-encode special characters "
            "in the password (@ as %40, / as %2F, ? as %3F, # as %23), and an @ in the "
            "database name or a parameter as %40."
        )
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
        user = unquote(parts.username or "")
        url_password = parts.password
    except ValueError:  # its text can quote part of the password: never echo it
        raise _bad_url(text, source, "the host or port cannot be read") from None
    if parts.scheme not in _SCHEMES:
        raise _bad_url(text, source, "it must start with postgresql://")
    if not parts.hostname:
        raise _bad_url(text, source, "it has no host")
    if not user:
        raise _bad_url(text, source, "it has no user")
    database = unquote(parts.path.lstrip("/")) or "postgres"
    if "/" in database:
        raise _bad_url(text, source, "the database name contains '/'; percent-encode the password")
    params = tuple(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params:
        if SECRET_PARAM.match(key):
            register_secret(value)
    _check_params(text, source, [key for key, _ in params], dict(params))
    query_password = dict(params).get("password")
    _check_no_second_place(source, [key for key, _ in params], url_password is not None)
    params = tuple((k, v) for k, v in params if k != "password")
    resolved = unquote(url_password) if url_password is not None else query_password or password
    register_secret(resolved)
    return DbTarget(parts.hostname, port, user, database, resolved, params)


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_AUTHORITY_END = re.compile(r"[/?#]")


def _at_after_the_host(url: str) -> bool:
    """A password before the host (`user:...@`) and an '@' after the first '/', '?' or '#'
    past `scheme://`: the password likely holds one of those unencoded. (Without a password
    there, an '@' in the query is a parameter's: `?password=a@b` reads as written.)"""
    _, sep, rest = url.partition("://")
    end = _AUTHORITY_END.search(rest) if sep else None
    if end is None:
        return False
    authority, after = rest[: end.start()], rest[end.start() :]
    return "@" in after and ":" in authority.rpartition("@")[0]


# Where to connect is read from one place, the URL's own parts. libpq lets a query parameter
# override them (`/app?dbname=other` connects to `other`, `?host=/socket` to a socket), but the
# banner, the history read and every method follow the URL's parts: a parameter there would be
# skipped by some methods and obeyed by others (the CLI), so it is refused, never dropped.
_AUTHORITY_PARAMS = {
    "host": "the host after '@'",
    "port": "the port after the host",
    "dbname": "the path (/DATABASE)",
    "user": "the user before '@'",
}


def _check_no_second_place(source: str, keys: list[str], url_password: bool) -> None:
    for key in keys:
        if key in _AUTHORITY_PARAMS:
            raise ConfigError(
                f"{source} has a {key}= parameter: write it in the URL itself, as "
                f"{_AUTHORITY_PARAMS[key]} ({EXPECTED}), and remove the parameter; supamigrate "
                "reads where to connect from one place only."
            )
    if url_password and "password" in keys:
        raise ConfigError(
            f"{source} has a password before the host and a password= parameter (neither "
            "shown): keep one of them."
        )


def _check_params(url: str, source: str, keys: list[str], values: dict[str, str]) -> None:
    sslmode = values.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        raise ConfigError(f"{source} has sslmode={sslmode!r}: use one of {', '.join(_SSLMODES)}.")
    encoding = values.get("client_encoding")
    if encoding is not None and encoding.strip().lower() not in ("utf8", "utf-8", "unicode"):
        raise ConfigError(
            f"{source} has client_encoding={encoding[:20]!r}: migration files are UTF-8 and are "
            "sent as UTF-8; remove the parameter (or set it to UTF8)."
        )
    unknown = [key for key in keys if key not in _LIBPQ_PARAMS]
    if unknown:
        # beside a secret parameter an unknown name may be a piece of it (`password=a&b`)
        secret = any(SECRET_PARAM.match(key) for key in keys)
        named = "that are not shown (a secret parameter is beside them)" if secret else None
        raise ConfigError(
            f"{source} has parameter(s) {named or few(sorted(set(unknown)))} that Postgres clients "
            "do not know (Prisma and other tools add them): remove them from the URL. "
            "supamigrate needs none of them; it recognises the transaction pooler by port 6543."
        )


def _bad_url(url: str, source: str, why: str) -> ConfigError:
    shown = _redacted(url) if url else "(empty)"
    shown = "".join(ch if 32 <= ord(ch) != 127 else f"\\x{ord(ch):02x}" for ch in shown)
    return ConfigError(
        f"{source} is not a valid Postgres URL ({why}): expected {EXPECTED}, got {shown}. "
        "Percent-encode special characters in the password (@ as %40, / as %2F, # as %23)."
    )


def _redacted(url: str) -> str:
    """A malformed URL with everything before its last '@' hidden: we cannot trust our parse."""
    if "://" not in url:  # perhaps a bare password pasted into the wrong variable
        return "a value that is not a URL (not shown)"
    if "@" not in url:
        return mask(url)
    scheme = url.split("://", 1)[0] + "://" if "://" in url else ""
    return mask(f"{scheme}***@{url.rsplit('@', 1)[1]}")
