"""Configuration resolves per key in the documented order and rejects bad values clearly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.connect.dburl import parse_db_url
from supamigrate.errors import ConfigError
from supamigrate.run.config import LOCAL_DB_URL, load_config


def _project(tmp_path: Path, *, pyproject: str = "", env: str = "", secrets: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.supamigrate]\n{pyproject}\n")
    if env:
        (tmp_path / ".env").write_text(env)
    if secrets:
        (tmp_path / ".env.secrets").write_text(secrets)
    return tmp_path


def _url(name: str) -> str:
    return f"postgresql://postgres:pw@{name}:5432/postgres"


def test_default_is_the_local_database(tmp_path: Path) -> None:
    """With nothing configured the target is the URL `supabase start` serves."""
    config = load_config(_project(tmp_path), environ={})
    assert config.target.url() == LOCAL_DB_URL
    assert config.sources["db_url"] == "default"


def test_precedence_env_secrets_dotenv_pyproject(tmp_path: Path) -> None:
    """The environment beats .env.secrets, which beats .env, which beats pyproject.toml."""
    root = _project(
        tmp_path,
        pyproject=f'db_url = "{_url("from-pyproject")}"\nlock_timeout = "9s"',
        env=f"DATABASE_URL={_url('from-dotenv')}\nSUPAMIGRATE_LOCK_TIMEOUT=8s\n",
        secrets=f"DATABASE_URL={_url('from-secrets')}\n",
    )
    assert load_config(root, environ={"DATABASE_URL": _url("from-env")}).target.host == "from-env"
    config = load_config(root, environ={})
    assert config.target.host == "from-secrets"
    assert config.sources["db_url"] == "DATABASE_URL (.env.secrets)"
    assert config.lock_timeout == "8s"  # .env beats pyproject for a key .env.secrets lacks
    (root / ".env.secrets").unlink()
    assert load_config(root, environ={}).target.host == "from-dotenv"
    (root / ".env").unlink()
    config = load_config(root, environ={})
    assert (config.target.host, config.lock_timeout) == ("from-pyproject", "9s")


def test_flags_beat_everything(tmp_path: Path) -> None:
    """A task flag wins over the environment."""
    root = _project(tmp_path, env=f"DATABASE_URL={_url('dotenv')}\n")
    config = load_config(
        root,
        flags={"db_url": _url("flag"), "lock_timeout": "1s"},
        environ={"DATABASE_URL": _url("env")},
    )
    assert (config.target.host, config.lock_timeout) == ("flag", "1s")
    assert config.sources["db_url"] == "--db-url"


def test_database_url_beats_supabase_db_url(tmp_path: Path) -> None:
    """Within one layer DATABASE_URL is read before SUPABASE_DB_URL; an env var beats .env."""
    root = _project(tmp_path, env=f"DATABASE_URL={_url('dotenv')}\n")
    both = {"DATABASE_URL": _url("a"), "SUPABASE_DB_URL": _url("b")}
    assert load_config(root, environ=both).target.host == "a"
    assert load_config(root, environ={"SUPABASE_DB_URL": _url("b")}).target.host == "b"


def test_dotenv_does_not_touch_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading .env never writes os.environ (python-dotenv must not override the real env)."""
    import os

    monkeypatch.delenv("DATABASE_URL", raising=False)
    load_config(_project(tmp_path, env=f"DATABASE_URL={_url('dotenv')}\n"), environ={})
    assert "DATABASE_URL" not in os.environ


def test_supabase_db_password_fills_a_url_without_one(tmp_path: Path) -> None:
    """SUPABASE_DB_PASSWORD supplies the password when the URL has none, and is passed through."""
    env = {
        "DATABASE_URL": "postgresql://postgres@db.abcdefghijklmnopqrst.supabase.co/postgres",
        "SUPABASE_DB_PASSWORD": "from-env-pw",
    }
    config = load_config(_project(tmp_path), environ=env)
    assert config.target.password == "from-env-pw"
    assert config.supabase_env["SUPABASE_DB_PASSWORD"] == "from-env-pw"
    assert config.target.project_ref == "abcdefghijklmnopqrst"


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("version_base", '"2025"', "14-digit"),
        ("version_base", '"20251341000000"', "14-digit"),
        ("lock_timeout", '"soon"', "Postgres duration"),
        ("connect_timeout", "0", "from 1 to 86400"),
        ("methods", '["psycopg2", "ftp"]', "choose from"),
        ("migration_dir", '"x"', "Unknown key"),
    ],
)
def test_bad_pyproject_values_are_usage_errors(
    tmp_path: Path, key: str, value: str, needle: str
) -> None:
    """A bad setting is a ConfigError (exit 2) naming what is expected."""
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(_project(tmp_path, pyproject=f"{key} = {value}"), environ={})
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:Sup3rSecret@host/db",
        "postgresql://:Sup3rSecret@host/db",
        "postgresql://postgres:Sup3rSecret@/db",
        "postgresql://postgres:Sup3rSecret@host:notaport/db",
        "postgresql://postgres:Sup3r/Secret@host:5432/db",
        "Sup3rSecret",
    ],
)
def test_malformed_url_is_one_line_and_never_echoes_the_password(url: str) -> None:
    """A malformed URL names the expected format, exits 2, and hides the password."""
    with pytest.raises(ConfigError) as info:
        parse_db_url(url, source="DATABASE_URL")
    message = str(info.value)
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in message
    assert "Sup3r" not in message
    assert "\n" not in message
    assert info.value.exit_code == 2


# Letters no message, host, user or database name here contains, and every character a
# password may hold unencoded that means something in a URL ('%' is URL encoding itself).
_MARKED = st.text(alphabet="JZ@#?/:&=+ ;", min_size=1, max_size=12).filter(
    lambda password: "J" in password or "Z" in password
)


@settings(max_examples=400, deadline=None)
@given(password=_MARKED, pooled=st.booleans())
def test_an_unencoded_password_is_read_whole_or_refused_unseen(password: str, pooled: bool) -> None:
    """Property: a password with URL delimiters written unencoded is either read exactly (and
    the host, port and database with it) or refused with a one-line usage error that shows
    none of it: never a piece of it taken as the host, the path or a parameter."""
    host, port = ("aws-0-eu-west-1.pooler.supabase.com", 6543) if pooled else ("127.0.0.1", 54322)
    url = f"postgresql://postgres:{password}@{host}:{port}/postgres"
    try:
        target = parse_db_url(url, source="DATABASE_URL")
    except ConfigError as refused:
        message = str(refused)
        assert "J" not in message and "Z" not in message, message
        assert "\n" not in message and refused.exit_code == 2
        assert "Percent-encode" in message
        return
    assert (target.password, target.host, target.port, target.database) == (
        password,
        host,
        port,
        "postgres",
    )
    assert "J" not in target.masked_url and "Z" not in target.masked_url


@settings(max_examples=300, deadline=None)
@given(password=_MARKED, key=st.sampled_from(["password", "sslpassword"]))
def test_a_password_parameter_never_shows_a_piece_of_itself(password: str, key: str) -> None:
    """Property: a password written unencoded in the query (`?password=...`) may be read
    wrongly (an '&' or '#' ends it), but no piece of it is ever shown: not in an error (an
    unknown parameter beside it is not named), not in the masked URL or the banner."""
    url = f"postgresql://postgres@127.0.0.1:54322/postgres?sslmode=disable&{key}={password}"
    try:
        target = parse_db_url(url, source="DATABASE_URL")
    except ConfigError as refused:
        assert "J" not in str(refused) and "Z" not in str(refused), str(refused)
        return
    assert (target.host, target.port, target.database) == ("127.0.0.1", 54322, "postgres")
    shown = target.masked_url + target.describe()
    assert "J" not in shown and "Z" not in shown, shown


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("postgresql://postgres@localhost/postgres?application_name=deploy@ci", "deploy@ci"),
        ("postgresql://postgres@localhost/postgres?password=Tr0ub4dor@horse", None),
        ("postgresql://postgres:pw@localhost/postgres?application_name=deploy%40ci", "deploy@ci"),
    ],
)
def test_an_at_in_a_parameter_reads_as_written(url: str, param: str | None) -> None:
    """Without a password before the host, an '@' in the query is a parameter's, as written
    (with one, it must be written %40: which '@' ends the password cannot be told)."""
    target = parse_db_url(url)
    assert dict(target.params).get("application_name") == param
    assert target.host == "localhost"


def test_url_with_special_characters_round_trips() -> None:
    """Unencoded @ and : in the password parse; the URL we rebuild is percent-encoded."""
    target = parse_db_url(
        "postgresql://postgres:p@ss:w0rd@127.0.0.1:54322/postgres?sslmode=disable"
    )
    assert (target.password, target.host, target.port) == ("p@ss:w0rd", "127.0.0.1", 54322)
    assert (
        target.url()
        == "postgresql://postgres:p%40ss%3Aw0rd@127.0.0.1:54322/postgres?sslmode=disable"
    )
    assert target.libpq_env()["PGSSLMODE"] == "disable"


@pytest.mark.parametrize(
    ("url", "ref", "kind"),
    [
        (
            "postgresql://postgres:x@db.abcdefghijklmnopqrst.supabase.co:5432/postgres",
            "abcdefghijklmnopqrst",
            "direct",
        ),
        (
            "postgresql://postgres.abcdefghijklmnopqrst:x@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
            "abcdefghijklmnopqrst",
            "transaction pooler",
        ),
        (
            "postgresql://postgres.abcdefghijklmnopqrst:x@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
            "abcdefghijklmnopqrst",
            "session pooler",
        ),
        ("postgresql://postgres:x@127.0.0.1:54322/postgres", None, "direct"),
    ],
)
def test_project_ref_and_connection_kind(url: str, ref: str | None, kind: str) -> None:
    """The host or the pooler user reveals the project ref; the port tells the pooler mode."""
    target = parse_db_url(url)
    assert (target.project_ref, target.connection_kind) == (ref, kind)
    assert "x@" not in target.describe()


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.text("0123456789", min_size=14, max_size=14)
    | st.tuples(
        st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25)
    ).map(lambda t: f"{t[0]:04d}{t[1]:02d}{t[2]:02d}{t[3]:02d}0000")
)
def test_version_base_accepts_what_strptime_accepts(
    tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    """version_base is checked without strptime (its first call costs a millisecond on every
    run): the same 14-digit values pass as with it, a real date and time in every field."""
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
        valid = True
    except ValueError:
        valid = False
    root = _project(tmp_path_factory.mktemp("p"), pyproject=f'version_base = "{value}"')
    if valid:
        assert load_config(root, environ={}).version_base == value
    else:
        with pytest.raises(ConfigError, match="14-digit"):
            load_config(root, environ={})
