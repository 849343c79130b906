"""A `supabase db pull` style migration: pg_dump's header, then a schema as pg_dump writes it.

Written for these tests (quoted identifiers, `OWNER TO`, `WITH SCHEMA`, policies, grants, default
privileges, `RESET ALL` at the end); the text holds non-ASCII and a backslash in a standard
string, which a changed client_encoding or standard_conforming_strings would store differently.
"""

HEADER = """SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

"""

SCHEMA = r"""CREATE SCHEMA IF NOT EXISTS "billing";

ALTER SCHEMA "billing" OWNER TO "postgres";

CREATE SCHEMA IF NOT EXISTS "extensions";

CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "extensions";

CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "extensions";

COMMENT ON SCHEMA "public" IS 'standard public schema';

CREATE OR REPLACE FUNCTION "public"."touch_updated_at"() RETURNS "trigger"
    LANGUAGE "plpgsql"
    SET "search_path" TO ''
    AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END;
$$;

ALTER FUNCTION "public"."touch_updated_at"() OWNER TO "postgres";

CREATE OR REPLACE FUNCTION "billing"."invoice_total"("p_profile" "uuid") RETURNS bigint
    LANGUAGE "sql" STABLE
    AS $$
  select coalesce(sum(amount_cents), 0)::bigint from billing.invoices where profile_id = p_profile;
$$;

ALTER FUNCTION "billing"."invoice_total"("p_profile" "uuid") OWNER TO "postgres";

SET default_tablespace = '';

SET default_table_access_method = "heap";

CREATE TABLE IF NOT EXISTS "public"."profiles" (
    "id" "uuid" NOT NULL,
    "username" "extensions"."citext",
    "full_name" "text",
    "bio" "text" DEFAULT ''::"text",
    "created_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    "updated_at" timestamp with time zone DEFAULT "now"() NOT NULL,
    CONSTRAINT "username_length" CHECK (("char_length"(("username")::"text") >= 3))
);

ALTER TABLE "public"."profiles" OWNER TO "postgres";

COMMENT ON TABLE "public"."profiles" IS 'Öffentliches Profil — one per auth user (café, 東京)';

CREATE TABLE IF NOT EXISTS "billing"."invoices" (
    "id" bigint NOT NULL,
    "profile_id" "uuid" NOT NULL,
    "amount_cents" integer NOT NULL,
    "memo" "text" DEFAULT 'C:\exports\new'::"text",
    "token" "text" DEFAULT "encode"("extensions"."gen_random_bytes"(16), 'hex'::"text"),
    "issued_at" timestamp with time zone DEFAULT "now"(),
    CONSTRAINT "invoices_amount_cents_check" CHECK (("amount_cents" >= 0))
);

ALTER TABLE "billing"."invoices" OWNER TO "postgres";

CREATE SEQUENCE IF NOT EXISTS "billing"."invoices_id_seq"
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE "billing"."invoices_id_seq" OWNER TO "postgres";

ALTER SEQUENCE "billing"."invoices_id_seq" OWNED BY "billing"."invoices"."id";

ALTER TABLE ONLY "billing"."invoices" ALTER COLUMN "id" SET DEFAULT "nextval"('"billing"."invoices_id_seq"'::"regclass");

ALTER TABLE ONLY "public"."profiles"
    ADD CONSTRAINT "profiles_pkey" PRIMARY KEY ("id");

ALTER TABLE ONLY "public"."profiles"
    ADD CONSTRAINT "profiles_username_key" UNIQUE ("username");

ALTER TABLE ONLY "billing"."invoices"
    ADD CONSTRAINT "invoices_pkey" PRIMARY KEY ("id");

CREATE INDEX "invoices_profile_id_idx" ON "billing"."invoices" USING "btree" ("profile_id");

CREATE OR REPLACE TRIGGER "profiles_touch_updated_at" BEFORE UPDATE ON "public"."profiles" FOR EACH ROW EXECUTE FUNCTION "public"."touch_updated_at"();

ALTER TABLE ONLY "public"."profiles"
    ADD CONSTRAINT "profiles_id_fkey" FOREIGN KEY ("id") REFERENCES "auth"."users"("id") ON DELETE CASCADE;

ALTER TABLE ONLY "billing"."invoices"
    ADD CONSTRAINT "invoices_profile_id_fkey" FOREIGN KEY ("profile_id") REFERENCES "public"."profiles"("id") ON DELETE CASCADE;

CREATE POLICY "Profiles are visible to everyone" ON "public"."profiles" FOR SELECT USING (true);

CREATE POLICY "Members edit their own profile" ON "public"."profiles" FOR UPDATE TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "id")) WITH CHECK ((( SELECT "auth"."uid"() AS "uid") = "id"));

CREATE POLICY "Members read their own invoices" ON "billing"."invoices" FOR SELECT TO "authenticated" USING ((( SELECT "auth"."uid"() AS "uid") = "profile_id"));

ALTER TABLE "public"."profiles" ENABLE ROW LEVEL SECURITY;

ALTER TABLE "billing"."invoices" ENABLE ROW LEVEL SECURITY;

GRANT USAGE ON SCHEMA "public" TO "postgres";
GRANT USAGE ON SCHEMA "public" TO "anon";
GRANT USAGE ON SCHEMA "public" TO "authenticated";
GRANT USAGE ON SCHEMA "public" TO "service_role";

GRANT USAGE ON SCHEMA "billing" TO "authenticated";
GRANT USAGE ON SCHEMA "billing" TO "service_role";

GRANT ALL ON FUNCTION "public"."touch_updated_at"() TO "anon";
GRANT ALL ON FUNCTION "public"."touch_updated_at"() TO "authenticated";
GRANT ALL ON FUNCTION "public"."touch_updated_at"() TO "service_role";

GRANT ALL ON TABLE "public"."profiles" TO "anon";
GRANT ALL ON TABLE "public"."profiles" TO "authenticated";
GRANT ALL ON TABLE "public"."profiles" TO "service_role";

GRANT SELECT ON TABLE "billing"."invoices" TO "authenticated";
GRANT ALL ON TABLE "billing"."invoices" TO "service_role";

ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON SEQUENCES TO "postgres";
ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON SEQUENCES TO "anon";
ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON FUNCTIONS TO "authenticated";
ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON TABLES TO "service_role";

RESET ALL;
"""

DB_PULL = HEADER + SCHEMA
# What the text must read back as, whichever method stored it.
COMMENT = "Öffentliches Profil — one per auth user (café, 東京)"
MEMO_DEFAULT = "'C:\\exports\\new'::text"
