"""Every name the tenant migrations create, in one place: tables, helpers, triggers, policies.

verify, the probes and rollback-rls read these; migrations/001-005 are the source they mirror.
"""

from __future__ import annotations

TENANTS = "tenants"
MEMBERSHIPS = "user_tenants"
PLATFORM_TABLES = ("files", "audit_logs", "sessions")
HELPERS = ("current_user_tenant_ids", "current_user_admin_tenant_ids", "user_default_tenant_id")

SIGNUP_TRIGGER = "on_auth_user_created_tenant"
SIGNUP_FUNCTION = "public.handle_new_user_tenant()"
# trigger -> the table it is on; files_set_tenant_id only where public.files exists
TRIGGERS = {SIGNUP_TRIGGER: "auth.users", "tenants_set_updated_at": "public.tenants"}
FILES_TRIGGER = ("files_set_tenant_id", "public.files")

RLS_MIGRATION_NAME = "enable_rls_policies"
BOUNDARY_MIGRATION_NAME = "enforce_tenant_boundary"
# What 004 and 005 turned on, written by 005: rollback-rls undoes exactly its rows.
RECORD = "supamigrate.tenant_rls"
# 005's restrictive policies, one per command, on every tenant-scoped table, tenants and
# user_tenants, to public; and its member policies where it turned RLS on itself.
COMMANDS = ("select", "insert", "update", "delete")
BOUNDARY_POLICIES = {cmd: f"tenant boundary: {cmd}" for cmd in COMMANDS}
BOUNDARY_HELPER = "supamigrate.member_tenant_ids()"
# The shipped migrations' names (the part after NNN_ or <version>_).
TENANT_MIGRATION_NAMES = (
    "create_tenant_management_tables",
    "add_tenant_id_to_existing_tables",
    "backfill_tenant_data",
    RLS_MIGRATION_NAME,
    BOUNDARY_MIGRATION_NAME,
)
_CRUD = ("read", "insert", "update", "delete")
POLICIES: dict[str, tuple[str, ...]] = {
    TENANTS: ("tenants: members can read", "tenants: owners and admins can rename"),
    MEMBERSHIPS: (
        "user_tenants: see own and co-members",
        "user_tenants: owners and admins add members",
        "user_tenants: owners and admins change members",
        "user_tenants: admins remove members, members leave",
    ),
    **{t: tuple(f"{t}: tenant members can {a}" for a in _CRUD) for t in PLATFORM_TABLES},
}

# The role GoTrue (Supabase Auth) connects as: every signup's INSERT into auth.users runs as it.
AUTH_ADMIN = "supabase_auth_admin"
