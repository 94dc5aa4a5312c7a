package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.testkit.TcpProxy;
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
 * The oldest source pgmigrate accepts, PostgreSQL 12, upgraded to 18 and back: after the cutover the source is the
 * reverse stream's subscriber, so everything that reads a subscriber (status, awaitInSync, the rollback's pre-check)
 * must work on 12 too (review F10: {@code pg_stat_progress_copy} exists from 14 on).
 */
@PostgresPair(source = 12, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class OldSourceIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    @Test
    void aPartitionedTableOnATwelveSourceIsABlockerBeforeAnythingIsChanged(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) {
        String db = "legacy_partitions";
        source.createDatabase(db);
        source.execute(db, """
                CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
                CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
                """);
        try (Migration m = CutoverContract.builder(source, target, state, "legacyp", db).build()) {
            // Published through its root only from 13 on: on 12 its rows would stay behind (review F5, F14).
            assertThat(m.preflight().findings()).anySatisfy(f -> {
                assertThat(f.check()).isEqualTo("partitioned_table");
                assertThat(f.severity()).isEqualTo(io.pgmigrate.Severity.BLOCKER);
                assertThat(f.object()).isEqualTo("public.events");
            });
        }
    }

    @Test
    void aTwelveSourceCutsOverToEighteenAndRollsBackWithTheNewSidesWrites(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        cutOverAndBack(source, target, state, "legacy", Engine.NATIVE);
    }

    /**
     * STREAM from a 12 source: pgoutput's protocol 1, which carries no logical decoding message, so the sentinel is
     * seen as the position the stream has applied up to, not as a message.
     */
    @Test
    void aTwelveSourceCutsOverToEighteenAndRollsBackWithTheStreamEngine(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        cutOverAndBack(source, target, state, "legacy_stream", Engine.STREAM);
    }

    private static void cutOverAndBack(PostgresServer source, PostgresServer target, Path state, String db,
                                       Engine engine) throws Exception {
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        try (TcpProxy proxy = CutoverContract.proxy(source, target);
             Migration m = CutoverContract.streaming(target, db,
                     CutoverContract.builder(source, target, state, "legacy", db).engine(engine)
                             .trafficSwitch(proxy))) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 2);
            CutoverReport back;
            try (w) {
                w.awaitMoreCommits(100);
                assertThat(m.cutover().succeeded()).isTrue();
                w.awaitMoreCommits(100); // on the target now
                assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.CUT_OVER);
                m.awaitInSync(SYNC);
                back = m.rollback();
                w.awaitMoreCommits(100);
            }
            assertThat(back.succeeded()).isTrue();
            assertThat(proxy.active()).isEqualTo(Side.SOURCE);
            assertThat(Ledger.keys(source, db)).as("every write a client saw committed is on the source")
                    .containsAll(w.confirmed());
            m.complete();
        }
    }
}
