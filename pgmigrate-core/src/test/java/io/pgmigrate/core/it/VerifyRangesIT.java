package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
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
 * verify() compares tables range by range of their key, each range's digest computed by both servers: values of
 * every kind print alike on 14 and 18, a key's INCLUDE columns are not part of it, a range is rechecked only while the
 * stream can bring changes across, and a row changed on the target behind the stream's back is found in its range.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class VerifyRangesIT {

    private static final String SCHEMA = """
            CREATE TABLE readings (site text NOT NULL, seq int NOT NULL, at timestamptz NOT NULL,
                                   value double precision, ratio real, span interval, raw bytea, tags text[],
                                   PRIMARY KEY (site, seq));
            INSERT INTO readings SELECT 'site-' || (g % 17), g, timestamptz '2026-01-01 00:00+02' + g * interval '7 s',
                   g / 3.0, g / 7.0, g * interval '1 min 3 s', decode(md5(g::text), 'hex'),
                   ARRAY['t' || (g % 5), 'x']
            FROM generate_series(1, 250000) g;
            CREATE TABLE notes (body text, written date);
            INSERT INTO notes SELECT 'note ' || g, date '2026-01-01' + g % 300 FROM generate_series(1, 5000) g;
            ALTER TABLE notes REPLICA IDENTITY FULL;
            CREATE TABLE tagged (id int, label text, PRIMARY KEY (id) INCLUDE (label));
            INSERT INTO tagged SELECT g, NULL FROM generate_series(1, 120000) g;
            """;

    @Test
    void rangesOfTheKeyAreComparedAndARowChangedBehindTheStreamIsFoundInItsRange(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "ranges";
        source.createDatabase(db);
        source.execute(db, SCHEMA);
        try (Migration m = CutoverContract.builder(source, target, state, db, db).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            VerificationReport same = m.verify();
            assertThat(same.matches()).as(same.toString()).isTrue();
            TableVerification readings = same.tables().stream().filter(t -> t.table().equals("readings")).findFirst()
                    .orElseThrow();
            assertThat(readings.ranges()).isEqualTo(3);
            assertThat(readings.sourceRows()).as("the ranges cover each row once").isEqualTo(250_000);
            assertThat(same.tables()).filteredOn(t -> t.table().equals("notes")).singleElement()
                    .satisfies(t -> assertThat(t.sourceRows()).isEqualTo(5000));
            // the key is the index's key columns, not what it INCLUDEs (NULL here: no range would hold those rows)
            assertThat(same.tables()).filteredOn(t -> t.table().equals("tagged")).singleElement()
                    .satisfies(t -> assertThat(t.sourceRows()).isEqualTo(120_000))
                    .satisfies(t -> assertThat(t.ranges()).isEqualTo(2));

            // The stream behind (its apply waits for a lock on the target) while a row changes on the source: the
            // first reading differs, the recheck at one position of both sides does not. The lock goes once verify()
            // holds writes to the table on the source for its recheck.
            try (java.sql.Connection held = target.connect(db); java.sql.Statement st = held.createStatement()) {
                held.setAutoCommit(false);
                st.execute("LOCK TABLE readings IN SHARE MODE");
                source.execute(db, "UPDATE readings SET value = value + 1 WHERE site = 'site-1' AND seq = 18");
                var verifying = java.util.concurrent.CompletableFuture.supplyAsync(m::verify);
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
                while (Fixtures.count(source, db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                        + " WHERE c.relname = 'readings' AND l.mode = 'ShareLock' AND l.granted") == 0) {
                    assertThat(verifying).as("verify() rechecks the range").isNotDone();
                    assertThat(System.nanoTime()).as("verify() gets to its recheck").isLessThan(deadline);
                    TimeUnit.MILLISECONDS.sleep(20);
                }
                held.rollback();
                VerificationReport behind = verifying.get(2, TimeUnit.MINUTES);
                assertThat(behind.matches()).as(behind.toString()).isTrue();
            }

            // A paused stream cannot bring the source's change across: the range is reported at once, saying it
            // was not compared again, and repair() refuses rather than holding the table's writers for nothing.
            m.pause();
            source.execute(db, "UPDATE readings SET value = value + 1 WHERE site = 'site-2' AND seq = 2");
            VerificationReport paused = m.verify();
            assertThat(paused.mismatches()).extracting(TableVerification::table).containsExactly("readings");
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock'"
                    + " AND locktype = 'relation'")).isZero();
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> m.repair(paused)))
                    .hasMessageContaining("PAUSED").hasMessageContaining("nothing was changed");
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            VerificationReport resumed = m.verify();
            assertThat(resumed.matches()).as(resumed.toText()).isTrue();

            target.execute(db, "SET session_replication_role = replica;"
                    + " UPDATE readings SET value = -1 WHERE site = 'site-8' AND seq = 20000;"
                    + " DELETE FROM notes WHERE body = 'note 17'");
            VerificationReport changed = m.verify();
            assertThat(changed.matches()).isFalse();
            assertThat(changed.mismatches()).extracting(TableVerification::table)
                    .containsExactlyInAnyOrder("readings", "notes");
            TableVerification r = changed.mismatches().stream().filter(t -> t.table().equals("readings"))
                    .findFirst().orElseThrow();
            assertThat(r.differingRanges()).as("the range of ('site-8', 20000)").singleElement().asString().endsWith("+inf]");
            assertThat(changed.toText()).contains("DIFFERENT  ranges.public.readings: 250000 rows on the source,"
                    + " 250000 on the target, 3 ranges").contains("differs in key range (").contains("2 differ");
            m.complete();
        }
    }
}
