package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Databases, schemas, tables and columns named with quotes, spaces, mixed case, non-ASCII text, reserved words, the
 * full 63 bytes, and shaped as SQL injection are migrated, verified, cut over and completed like any other names,
 * and the statements their names imitate never run.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OddNamesIT {

    /** The engine these proofs run with; {@link OddNamesStreamIT} runs them for STREAM. */
    Engine engine() {
        return Engine.NATIVE;
    }

    private static final Duration SYNC = Duration.ofMinutes(2);

    private static final String DROP_TABLE = "x\"; DROP TABLE y; --";
    private static final String DROP_DATABASE = "'); DROP DATABASE postgres; --";
    private static final String UNICODE = "Ünïcødé 東京";
    private static final String LONG_TABLE = padTo63("Ωmega Täble ");
    private static final String LONG_COLUMN = padTo63("Çolumn ");

    private static final List<String> DATABASES = List.of(DROP_TABLE, DROP_DATABASE, UNICODE + " Mixed",
            padTo63("Select Ω "));

    /** Every table the migration copies, schema-qualified and quoted by the test itself. */
    private static final List<String> TABLES = List.of(
            "public.y",
            q("select") + "." + q("user"),
            q(UNICODE) + "." + q("Mixed Case \"Table\""),
            "public." + q(DROP_TABLE),
            "public." + q(DROP_DATABASE),
            "public." + q(LONG_TABLE));

    @Test
    void oddAndHostileNamesMigrateCutOverAndCompleteAndTheBaitTablesSurvive(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        for (String db : DATABASES) {
            assertThat(db.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(63);
            source.createDatabase(db);
            createTables(source, db);
            insertRows(source, db, 1, 200);
        }

        try (Migration m = Migration.builder().engine(engine())
                .name("odd_names")
                .source(source.endpoint())
                .target(target.endpoint())
                .databases(DATABASES)
                .stateDirectory(state)
                .build()) {
            assertThat(m.preflight().hasBlockers()).as(m.preflight().toTable()).isFalse();
            m.start();
            m.awaitInSync(SYNC);
            for (String db : DATABASES) {
                insertRows(source, db, 201, 300); // streamed, not copied
            }
            MigrationStatus synced = m.awaitInSync(SYNC);
            assertThat(synced.databases()).extracting(d -> d.database()).containsExactlyInAnyOrderElementsOf(DATABASES);
            assertThat(synced.databases()).allMatch(d -> d.phase() == Phase.STREAMING);
            assertSameRows(source, target);

            VerificationReport v = m.verify();
            assertThat(v.tables()).hasSize(DATABASES.size() * TABLES.size());
            assertThat(v.matches()).as(v.mismatches().toString()).isTrue();

            CutoverReport report = m.cutover();
            assertThat(report.succeeded()).as(report.toText()).isTrue();
            assertThat(report.to()).isEqualTo(Side.TARGET);
            assertThat(report.sentinelLsns()).containsOnlyKeys(DATABASES.toArray(String[]::new));
            for (String db : DATABASES) {
                // Sequences came along: new rows on the target take fresh keys.
                insertRows(target, db, 301, 310);
            }
            m.awaitInSync(SYNC); // the reverse stream brings them to the source
            assertSameRows(source, target);

            m.complete();
        }

        for (PostgresServer server : List.of(source, target)) {
            assertThat(Fixtures.count(server, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'postgres'"))
                    .as("database postgres on " + server).isOne();
            for (String db : DATABASES) {
                assertThat(Fixtures.count(server, db, "SELECT count(*) FROM y")).as("bait table y in " + db + " on "
                        + server).isEqualTo(3);
                assertThat(Fixtures.count(server, db, "SELECT count(*) FROM pg_class WHERE relname = 'y'")).isOne();
                assertThat(Fixtures.count(server, db,
                        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%'")).isZero();
                assertThat(Fixtures.count(server, db, "SELECT count(*) FROM pg_publication")).isZero();
            }
            assertThat(Fixtures.count(server, "postgres", "SELECT count(*) FROM pg_subscription")).isZero();
            assertThat(Fixtures.count(server, "postgres", "SELECT count(*) FROM pg_replication_slots")).isZero();
        }
        assertThat(Fixtures.count(target, DROP_TABLE, "SELECT count(*) FROM " + q(DROP_TABLE))).isEqualTo(310);
    }

    /**
     * The fence's message names the database, and the guard's body is compiled by the writing session under its own
     * {@code standard_conforming_strings}: with it off, a backslash before a quote in the name ended the message's
     * literal early and the guard failed with a syntax error instead of refusing the write as fenced (review F25).
     */
    @Test
    void aFencedDatabaseWhoseNameHasABackslashRefusesWritesAsFencedWhateverTheSessionsStringSyntax(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "back\\'slash";
        source.createDatabase(db);
        source.execute(db, "CREATE TABLE y (id integer PRIMARY KEY, note text)");
        try (Migration m = Migration.builder().engine(engine()).name("backslash").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(SYNC);
            m.fence(Side.SOURCE, db).engage();
            try {
                for (String syntax : List.of("on", "off")) {
                    try (Connection c = source.connect(db); Statement s = c.createStatement()) {
                        s.execute("SET standard_conforming_strings = " + syntax);
                        assertThatThrownBy(() -> s.execute("INSERT INTO y VALUES (1, 'x')"))
                                .as("standard_conforming_strings = " + syntax)
                                .isInstanceOfSatisfying(SQLException.class, e -> {
                                    assertThat(e.getSQLState()).isEqualTo("25006");
                                    assertThat(e.getMessage()).contains("database " + db + " is fenced");
                                });
                    }
                }
            } finally {
                m.fence(Side.SOURCE, db).lift();
            }
            m.complete();
        }
    }

    /**
     * The fence proves itself with a write from a fresh session to the first table; a rule that turns DELETE into
     * nothing swallowed that write before any trigger fired, and the engaged fence was reported as broken.
     */
    @Test
    void aFenceEngagesWhenTheFirstTableSwallowsDeletesWithARule(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "rule_first";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE public.audit_trail (id integer PRIMARY KEY, note text);
                CREATE RULE audit_trail_keep AS ON DELETE TO public.audit_trail DO INSTEAD NOTHING;
                CREATE TABLE public.orders (id integer PRIMARY KEY, qty integer);
                """);
        try (Migration m = Migration.builder().engine(engine()).name("rulefirst").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(SYNC);
            m.fence(Side.SOURCE, db).engage();
            try {
                for (String write : List.of("INSERT INTO public.audit_trail VALUES (1, 'x')",
                        "INSERT INTO public.orders VALUES (1, 1)")) {
                    try (Connection c = source.connect(db); Statement s = c.createStatement()) {
                        assertThatThrownBy(() -> s.execute(write)).as(write)
                                .isInstanceOfSatisfying(SQLException.class,
                                        e -> assertThat(e.getSQLState()).isEqualTo("25006"));
                    }
                }
            } finally {
                m.fence(Side.SOURCE, db).lift();
            }
            m.complete();
        }
    }

    private static void createTables(PostgresServer server, String db) throws SQLException {
        try (Connection c = server.connect(db); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE y (id integer PRIMARY KEY, note text)");
            s.execute("INSERT INTO y VALUES (1, 'bait'), (2, 'bait'), (3, 'bait')");
            s.execute("CREATE SCHEMA " + q("select"));
            s.execute("CREATE TABLE " + q("select") + "." + q("user") + " (" + q("order") + " integer PRIMARY KEY, "
                    + q("group") + " text, " + q("from") + " timestamptz DEFAULT now())");
            s.execute("CREATE SCHEMA " + q(UNICODE));
            s.execute("CREATE TABLE " + q(UNICODE) + "." + q("Mixed Case \"Table\"") + " (" + q("Id")
                    + " bigserial PRIMARY KEY, " + q("välue") + " text, " + q(DROP_TABLE) + " text)");
            s.execute("CREATE TABLE " + q(DROP_TABLE) + " (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                    + q(DROP_DATABASE) + " text)");
            s.execute("CREATE TABLE " + q(DROP_DATABASE) + " (id serial PRIMARY KEY, " + q("\"quoted\"") + " text)");
            s.execute("CREATE TABLE " + q(LONG_TABLE) + " (" + q(LONG_COLUMN)
                    + " integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text)");
        }
    }

    /** Rows {@code from..to} in every table but the bait; keys from the sequences where the table has one. */
    private static void insertRows(PostgresServer server, String db, int from, int to) throws SQLException {
        String series = " FROM generate_series(" + from + ", " + to + ") g";
        try (Connection c = server.connect(db); Statement s = c.createStatement()) {
            s.execute("INSERT INTO " + q("select") + "." + q("user") + " (" + q("order") + ", " + q("group")
                    + ") SELECT g, 'grüppe ' || g" + series);
            s.execute("INSERT INTO " + q(UNICODE) + "." + q("Mixed Case \"Table\"") + " (" + q("välue") + ", "
                    + q(DROP_TABLE) + ") SELECT '東京 ' || g, 'DROP TABLE y; ' || g" + series);
            s.execute("INSERT INTO " + q(DROP_TABLE) + " (" + q(DROP_DATABASE) + ") SELECT ''');' || g" + series);
            s.execute("INSERT INTO " + q(DROP_DATABASE) + " (" + q("\"quoted\"") + ") SELECT '\"' || g" + series);
            s.execute("INSERT INTO " + q(LONG_TABLE) + " (v) SELECT 'v' || g" + series);
        }
    }

    private static void assertSameRows(PostgresServer source, PostgresServer target) throws SQLException {
        for (String db : DATABASES) {
            for (String table : TABLES) {
                assertThat(Fixtures.fingerprint(target, db, table)).as(db + " " + table)
                        .isEqualTo(Fixtures.fingerprint(source, db, table));
            }
        }
    }

    /** The test's own identifier quoting, independent of pgmigrate's. */
    private static String q(String name) {
        return '"' + name.replace("\"", "\"\"") + '"';
    }

    /** {@code prefix} padded with letters to exactly 63 UTF-8 bytes, PostgreSQL's longest name. */
    private static String padTo63(String prefix) {
        return prefix + "x".repeat(63 - prefix.getBytes(StandardCharsets.UTF_8).length);
    }
}
