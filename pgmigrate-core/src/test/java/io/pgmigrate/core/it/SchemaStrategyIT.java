package io.pgmigrate.core.it;

import io.pgmigrate.Finding;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.SchemaStrategy;
import io.pgmigrate.Severity;
import io.pgmigrate.core.internal.schema.PgDump;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

/** The three schema strategies, and owners and grants, from PostgreSQL 14 to 18. */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SchemaStrategyIT {

    @Test
    void catalogAndPgDumpCreateTheSameSchema(@Source PostgresServer source, @Target PostgresServer target,
                                             @TempDir Path state) throws Exception {
        Optional<PgDump> pgDump = findPgDump(source);
        assumeThat(pgDump).as("a pg_dump %s or later on the PATH (Debian: apt-get install postgresql-client)",
                source.majorVersion()).isPresent();
        for (String db : List.of("by_catalog", "by_pg_dump")) {
            source.createDatabase(db);
            source.execute(db, SchemaFixtures.RICH);
            source.execute(db, "INSERT INTO app.customers (name, email) VALUES ('Ada', 'ada@example.org')");
        }
        try (Migration catalog = Migration.builder().name("bycatalog").source(source.endpoint())
                .target(target.endpoint()).databases("by_catalog").stateDirectory(state.resolve("c")).build();
             Migration dump = Migration.builder().name("bydump").source(source.endpoint()).target(target.endpoint())
                     .databases("by_pg_dump").schemaStrategy(SchemaStrategy.PG_DUMP)
                     .stateDirectory(state.resolve("d")).build()) {
            assertThat(dump.preflight().findings()).filteredOn(f -> f.check().equals("pg_dump"))
                    .singleElement().satisfies(f -> assertThat(f.severity()).isEqualTo(Severity.INFO));
            catalog.start();
            dump.start();
            catalog.awaitInSync(Duration.ofMinutes(2));
            dump.awaitInSync(Duration.ofMinutes(2));

            try (Connection a = target.connect("by_catalog"); Connection b = target.connect("by_pg_dump")) {
                SchemaDiff diff = SchemaDiff.between(a, b);
                assertThat(diff.isEmpty()).as(diff.toText()).isTrue();
            }
            SchemaDiff sourceToDump = dump.schemaDiff("by_pg_dump");
            assertThat(sourceToDump.isEmpty()).as(sourceToDump.toText()).isTrue();
            source.execute("by_pg_dump", "INSERT INTO app.orders (customer_id, qty) VALUES (1, 3)");
            dump.awaitInSync(Duration.ofMinutes(1));
            assertThat(Fixtures.fingerprint(target, "by_pg_dump", "app.orders"))
                    .isEqualTo(Fixtures.fingerprint(source, "by_pg_dump", "app.orders"));
            catalog.complete();
            dump.complete();
        }
    }

    @Test
    void pgDumpOlderThanTheSourceIsAPreflightBlockerNamingWhatToDo(@Source PostgresServer source,
                                                                   @Target PostgresServer target,
                                                                   @TempDir Path dir) throws Exception {
        Path old = dir.resolve("pg_dump");
        Files.writeString(old, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n");
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rwx------"));
        source.createDatabase("old_dump");
        source.execute("old_dump", "CREATE TABLE t (id int PRIMARY KEY)");
        try (Migration m = Migration.builder().name("olddump").source(source.endpoint()).target(target.endpoint())
                .databases("old_dump").schemaStrategy(SchemaStrategy.PG_DUMP).pgDump(old)
                .stateDirectory(dir.resolve("state")).build()) {
            Finding f = only(m.preflight(), "pg_dump");
            assertThat(f.severity()).isEqualTo(Severity.BLOCKER);
            assertThat(f.message()).contains("pg_dump 14 or later", "pg_dump 12 (" + old + ")",
                    "SchemaStrategy.CATALOG");
            assertThatThrownBy(m::start).isInstanceOf(PgMigrateException.class).hasMessageContaining("pg_dump");
            assertThat(Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'old_dump'"))
                    .as("nothing was created").isZero();
        }
    }

    @Test
    void noneLeavesTheSchemaToTheUserAndPreflightChecksItsTables(@Source PostgresServer source,
                                                                 @Target PostgresServer target,
                                                                 @TempDir Path state) throws Exception {
        source.createDatabase("own");
        source.execute("own", """
                CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer,
                                    doubled integer GENERATED ALWAYS AS (qty * 2) STORED);
                CREATE TABLE notes (id bigint PRIMARY KEY, body text);
                INSERT INTO items (id, name, qty) VALUES (1, 'a', 1), (2, 'b', 2);
                """);
        target.createDatabase("own");
        // The user's schema, not yet right: notes is missing, items lacks qty, has a NOT NULL column the source
        // does not send, a wider type for name, and a plain column where the source generates one.
        target.execute("own", """
                CREATE TABLE items (id bigint PRIMARY KEY, name varchar(200) NOT NULL, tenant int NOT NULL,
                                    doubled integer);
                """);
        try (Migration m = Migration.builder().name("own").source(source.endpoint()).target(target.endpoint())
                .databases("own").schemaStrategy(SchemaStrategy.NONE).stateDirectory(state).build()) {
            List<Finding> schema = m.preflight().findings().stream()
                    .filter(f -> f.check().equals("target_schema")).toList();
            assertThat(schema).extracting(Finding::severity, Finding::object).containsExactlyInAnyOrder(
                    org.assertj.core.groups.Tuple.tuple(Severity.WARNING, "public.items.name"),
                    org.assertj.core.groups.Tuple.tuple(Severity.BLOCKER, "public.items.qty"),
                    org.assertj.core.groups.Tuple.tuple(Severity.BLOCKER, "public.items.tenant"),
                    org.assertj.core.groups.Tuple.tuple(Severity.BLOCKER, "public.items.doubled"),
                    org.assertj.core.groups.Tuple.tuple(Severity.BLOCKER, "public.notes"));
            assertThatThrownBy(m::start).isInstanceOf(PgMigrateException.class).hasMessageContaining("target_schema");

            // Fixed by the user, with an extra nullable column and an index of the target's own.
            target.execute("own", """
                    DROP TABLE items;
                    CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty integer,
                                        doubled integer GENERATED ALWAYS AS (qty * 2) STORED, note text);
                    CREATE INDEX items_name_idx ON items (name);
                    CREATE TABLE notes (id bigint PRIMARY KEY, body text);
                    """);
            PreflightReport fixed = m.preflight();
            assertThat(fixed.findings()).noneMatch(f -> f.check().equals("target_schema"));
            // How the user's schema differs from the source's is told, as information.
            Finding diff = only(fixed, "schema_diff");
            assertThat(diff.severity()).isEqualTo(Severity.INFO);
            assertThat(diff.message()).contains("EXTRA index public.items_name_idx", "DIFFERENT table public.items");
            m.start();
            source.execute("own", "INSERT INTO notes VALUES (1, 'kept'); UPDATE items SET qty = 5 WHERE id = 1");
            m.awaitInSync(Duration.ofMinutes(1));
            assertThat(Fixtures.count(target, "own", "SELECT count(*) FROM notes")).isEqualTo(1);
            assertThat(Fixtures.count(target, "own", "SELECT qty FROM items WHERE id = 1")).isEqualTo(5);
            // Nothing of the user's schema was replaced: the target computes the generated column itself, and the
            // extra column and index are still there.
            assertThat(Fixtures.count(target, "own", "SELECT doubled FROM items WHERE id = 1")).isEqualTo(10);
            assertThat(Fixtures.count(target, "own",
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name_idx'")).isEqualTo(1);
            m.complete();
        }
    }

    @Test
    void ownersAndGrantsAreCopiedWhenAskedAndMissingRolesAreBlockers(@Source PostgresServer source,
                                                                    @Target PostgresServer target,
                                                                    @TempDir Path state) throws Exception {
        String roles = """
                CREATE ROLE shop_owner NOLOGIN;
                CREATE ROLE "Shop Reader" NOLOGIN;
                """;
        source.execute("postgres", roles + "CREATE ROLE shop_auditor NOLOGIN;");
        target.execute("postgres", roles);
        source.createDatabase("owned");
        source.execute("owned", """
                CREATE SCHEMA shop AUTHORIZATION shop_owner;
                CREATE TABLE shop.items (id bigserial PRIMARY KEY, name text, secret text);
                CREATE VIEW shop.names AS SELECT id, name FROM shop.items;
                CREATE FUNCTION shop.item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM shop.items';
                CREATE TYPE shop.colour AS ENUM ('red', 'blue');
                ALTER TABLE shop.items OWNER TO shop_owner;
                ALTER VIEW shop.names OWNER TO shop_owner;
                ALTER FUNCTION shop.item_count() OWNER TO shop_owner;
                GRANT USAGE ON SCHEMA shop TO "Shop Reader";
                GRANT SELECT ON shop.names TO "Shop Reader";
                GRANT SELECT (id, name), UPDATE (name) ON shop.items TO "Shop Reader" WITH GRANT OPTION;
                GRANT USAGE ON SEQUENCE shop.items_id_seq TO "Shop Reader";
                REVOKE EXECUTE ON FUNCTION shop.item_count() FROM PUBLIC;
                GRANT EXECUTE ON FUNCTION shop.item_count() TO "Shop Reader";
                GRANT SELECT ON shop.items TO shop_auditor;
                ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner IN SCHEMA shop GRANT SELECT ON TABLES TO "Shop Reader";
                ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
                ALTER ROLE "Shop Reader" IN DATABASE owned SET work_mem = '8MB';
                """);
        try (Migration m = Migration.builder().name("owned").source(source.endpoint()).target(target.endpoint())
                .databases("owned").ownershipAndGrants(true).stateDirectory(state).build()) {
            Finding missing = only(m.preflight(), "missing_roles");
            assertThat(missing.severity()).isEqualTo(Severity.BLOCKER);
            assertThat(missing.object()).isEqualTo("shop_auditor");

            target.execute("postgres", "CREATE ROLE shop_auditor NOLOGIN");
            m.start();
            m.awaitInSync(Duration.ofMinutes(1));
            String acl = """
                    SELECT string_agg(line, E'\\n' ORDER BY line) FROM (
                        SELECT 'schema ' || nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '-')
                               AS line
                        FROM pg_namespace WHERE nspname = 'shop'
                        UNION ALL
                        SELECT c.relname || ' ' || c.relowner::regrole || ' ' || coalesce(c.relacl::text, '-')
                        FROM pg_class c WHERE c.relnamespace = 'shop'::regnamespace AND c.relkind IN ('r', 'v', 'S')
                        UNION ALL
                        SELECT c.relname || '.' || a.attname || ' ' || a.attacl::text
                        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                        WHERE c.relnamespace = 'shop'::regnamespace AND a.attacl IS NOT NULL
                        UNION ALL
                        SELECT proname || ' ' || proowner::regrole || ' ' || coalesce(proacl::text, '-')
                        FROM pg_proc WHERE pronamespace = 'shop'::regnamespace
                        UNION ALL
                        SELECT typname || ' ' || typowner::regrole || ' ' || coalesce(typacl::text, '-')
                        FROM pg_type WHERE typnamespace = 'shop'::regnamespace AND typtype = 'e') x
                    """;
            String onSource = Fixtures.text(source, "owned", acl);
            // Owners, table, column, sequence, schema and function grants (PUBLIC's EXECUTE revoked) are all there.
            assertThat(onSource).contains("items shop_owner", "shop_auditor=r/shop_owner", "items.name",
                    "Shop Reader\\\"=r*w*/shop_owner", "items_id_seq shop_owner", "schema shop shop_owner",
                    "item_count shop_owner {shop_owner=X/shop_owner,", "names shop_owner");
            // An owner's full set of table privileges gained MAINTAIN (m) in PostgreSQL 17.
            assertThat(Fixtures.text(target, "owned", acl).replace("=arwdDxtm/", "=arwdDxt/")).isEqualTo(onSource);
            // Default privileges, a global entry (which replaces the built-in defaults) and a schema's, and a role's
            // setting in the database (issue 14).
            String defaults = """
                    SELECT (SELECT string_agg(d.defaclrole::regrole || ' ' || coalesce(n.nspname, '-') || ' '
                                              || d.defaclobjtype::text || ' ' || d.defaclacl::text, E'\n' ORDER BY 1)
                            FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace)
                           || E'\n' ||
                           (SELECT string_agg(s.setrole::regrole || ' ' || array_to_string(s.setconfig, ','), E'\n')
                            FROM pg_db_role_setting s WHERE s.setdatabase = (SELECT oid FROM pg_database
                                                                             WHERE datname = current_database()))
                    """;
            String defaultsOnSource = Fixtures.text(source, "owned", defaults);
            assertThat(defaultsOnSource).contains("shop_owner shop r {\"\\\"Shop Reader\\\"=r/shop_owner\"}",
                    "shop_owner - f {shop_owner=X/shop_owner}", "\"Shop Reader\" work_mem=8MB");
            assertThat(Fixtures.text(target, "owned", defaults)).isEqualTo(defaultsOnSource);
            m.complete();
        }
    }

    private static Optional<PgDump> findPgDump(PostgresServer source) {
        try {
            return Optional.of(PgDump.find(Optional.empty(), source.majorVersion(), 99));
        } catch (PgMigrateException e) {
            return Optional.empty();
        }
    }

    private static Finding only(PreflightReport report, String check) {
        List<Finding> found = report.findings().stream().filter(f -> f.check().equals(check)).toList();
        assertThat(found).as(report.toTable()).hasSize(1);
        return found.get(0);
    }
}
