package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the stream does not carry is on the new side after the cutover: large objects written before the migration,
 * during it and right before the fence (created, rewritten, truncated, removed), with their owner and grants;
 * materialized views the source has populated, refreshed on the target; sequences moved by their observed rate; and an
 * 18 target plans with the source's optimizer statistics from its first query, without an ANALYZE.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CarriedAtCutoverIT {

    @Test
    void largeObjectsAndStatisticsAreOnTheNewSideAfterTheCutover(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "carried";
        Ledger.create(source, db, 1, false);
        Ledger.createRole(target);
        source.execute(db, """
                CREATE ROLE scanner_reader;
                CREATE TABLE scans (id bigint PRIMARY KEY, document oid NOT NULL, kind text NOT NULL,
                                    pages int NOT NULL);
                SELECT lo_from_bytea(41001, convert_to(repeat('invoice page ', 200000), 'UTF8'));
                SELECT lo_from_bytea(41002, '\\x25504446'::bytea);
                SELECT lo_from_bytea(41003, '\\x00ff00ff'::bytea);
                GRANT SELECT ON LARGE OBJECT 41002 TO scanner_reader;
                INSERT INTO scans SELECT g, 41001 + g % 3, CASE WHEN g % 10 = 0 THEN 'contract' ELSE 'invoice' END,
                       1 + g % 40
                FROM generate_series(1, 20000) g;
                ANALYZE scans;
                CREATE MATERIALIZED VIEW scan_kinds AS SELECT kind, count(*) AS n, sum(pages) AS pages FROM scans
                    GROUP BY kind;
                CREATE MATERIALIZED VIEW big_kinds AS SELECT kind FROM scan_kinds WHERE n > 5000;
                CREATE MATERIALIZED VIEW never_filled AS SELECT count(*) FROM scans WITH NO DATA;
                CREATE SEQUENCE invoice_no;
                CREATE SEQUENCE idle_no START 500;
                """);
        // Between the cutover's pre-check and its fence, invoices are numbered fast: invoice_no moves on the target
        // by its rate over the horizon (an hour: far past the 99,999 it used), idle_no by the fixed margin only.
        io.pgmigrate.MigrationListener busy = new io.pgmigrate.MigrationListener() {
            @Override
            public void onPhase(String database, io.pgmigrate.Phase phase) {
                if (phase == io.pgmigrate.Phase.CUTTING_OVER) {
                    source.execute(db, "SELECT setval('invoice_no', 100000)");
                }
            }
        };
        target.execute("postgres", "CREATE ROLE scanner_reader");
        // During the switch, after the last pass over the large objects, a large object written on the source
        // waits: the fence's triggers do not stop lo_* functions, the pass's hold does, until traffic moved.
        java.util.concurrent.atomic.AtomicReference<String> lateWrite = new java.util.concurrent.atomic.AtomicReference<>();
        io.pgmigrate.TrafficSwitch loWriter = side -> {
            try (java.sql.Connection c = source.connect(db); java.sql.Statement st = c.createStatement()) {
                st.execute("SET lock_timeout = '1s'");
                st.execute("SELECT lo_from_bytea(41099, 'during the switch'::bytea)");
                lateWrite.set("written");
            } catch (java.sql.SQLException e) {
                lateWrite.set(e.getSQLState());
            }
        };
        try (Migration m = CutoverContract.streaming(target, db,
                CutoverContract.builder(source, target, state, "carried", db)
                        .sequenceMarginByRate(Duration.ofHours(1)).listener(busy).trafficSwitch(loWriter))) {
            // autovacuum must not analyze the copy on its own: what the target has, it got from the cutover
            target.execute(db, "ALTER TABLE scans SET (autovacuum_enabled = false)");
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_stats WHERE tablename = 'scans'")).isZero();
            // during the migration: one rewritten, one cut short, one removed, one new
            source.execute(db, """
                    SELECT lo_put(41002, 0, '\\x89504e47'::bytea);
                    SELECT lo_truncate(lo_open(41001, 131072), 5000);
                    SELECT lo_unlink(41003);
                    SELECT lo_from_bytea(41004, '\\xcafe'::bytea);
                    """);
            m.awaitInSync(Duration.ofMinutes(2));

            // After the cutover's first copy of the large objects has read both sides (held on the target's catalog
            // as it starts writing), one more is written: only the copy inside the fence can bring it.
            CutoverReport r;
            try (java.sql.Connection held = target.connect(db); java.sql.Statement st = held.createStatement()) {
                held.setAutoCommit(false);
                st.execute("LOCK TABLE pg_largeobject_metadata IN EXCLUSIVE MODE");
                var cutover = java.util.concurrent.CompletableFuture.supplyAsync(m::cutover);
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
                while (Fixtures.count(target, db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                        + " WHERE c.relname = 'pg_largeobject_metadata' AND NOT l.granted") == 0) {
                    assertThat(cutover).as("the cutover copies large objects").isNotDone();
                    assertThat(System.nanoTime()).as("the first copy of large objects begins").isLessThan(deadline);
                    TimeUnit.MILLISECONDS.sleep(20);
                }
                assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE"
                        + " 'pgmigrate%fence'")).as("prepared").isPositive();
                source.execute(db, "SELECT lo_from_bytea(41005, 'written at the last moment'::bytea)");
                held.rollback();
                r = cutover.get(2, TimeUnit.MINUTES);
            }
            assertThat(r.succeeded()).as(r.toString()).isTrue();
            assertThat(lateWrite.get()).as("a large object written on the source during the switch waits")
                    .isEqualTo("55P03");
            assertThat(r.steps()).extracting(CutoverReport.Step::name)
                    .contains("materialized views", "statistics", "large objects", "large objects changed since");

            // refreshed on the target before the fence, a view built on another after it; an empty one stays empty
            assertThat(Fixtures.text(target, db, "SELECT string_agg(kind || n || ':' || pages, ',' ORDER BY kind)"
                    + " FROM scan_kinds")).isEqualTo("contract2000:32000,invoice18000:378000");
            assertThat(Fixtures.text(target, db, "SELECT string_agg(kind, ',') FROM big_kinds")).isEqualTo("invoice");
            assertThat(Fixtures.text(target, db, "SELECT relispopulated::text FROM pg_class"
                    + " WHERE relname = 'never_filled'")).isEqualTo("false");

            assertThat(Fixtures.count(target, db, "SELECT nextval('invoice_no')")).as("moved by its rate")
                    .isGreaterThan(200_000);
            assertThat(Fixtures.count(target, db, "SELECT nextval('idle_no')")).as("moved by the margin")
                    .isEqualTo(1500);

            String objects = "SELECT string_agg(oid || ':' || md5(lo_get(oid)) || ':' || pg_get_userbyid(lomowner)"
                    + " || ':' || coalesce(lomacl::text, ''), ', ' ORDER BY oid) FROM pg_largeobject_metadata";
            assertThat(Fixtures.text(target, db, objects)).isEqualTo(Fixtures.text(source, db, objects))
                    .contains("41001:", "41002:", "41004:", "41005:").doesNotContain("41003:")
                    .contains("scanner_reader=r/");
            assertThat(Fixtures.count(target, db, "SELECT length(lo_get(41001))")).isEqualTo(5000);

            String stats = "SELECT string_agg(attname || ' ' || null_frac || ' ' || n_distinct || ' '"
                    + " || coalesce(most_common_vals::text, '-') || ' ' || coalesce(histogram_bounds::text, '-'),"
                    + " E'\\n' ORDER BY attname) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'scans'";
            assertThat(Fixtures.text(target, db, stats)).as("the source's statistics, without an ANALYZE")
                    .isNotNull().isEqualTo(Fixtures.text(source, db, stats)).contains("{invoice,contract}");
            assertThat(Fixtures.count(target, db, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'scans'"))
                    .isEqualTo(20000);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'scans'"
                    + " AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)")).as("never analyzed").isZero();
            m.complete();
        }
    }
}
