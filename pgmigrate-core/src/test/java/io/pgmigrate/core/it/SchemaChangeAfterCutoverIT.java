package io.pgmigrate.core.it;

import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Migration;
import io.pgmigrate.Phase;
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
 * A schema change deployed on the new primary after the cutover (review F8). The old side is 16, whose subscriber
 * counts apply errors (15 and later do; docs/cutover.md says what an older old side shows).
 */
@PostgresPair(source = 16, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class SchemaChangeAfterCutoverIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    /**
     * The team adds a column on the new primary, from a {@code DO} block, which pgmigrate cannot replay (a plain
     * {@code ALTER TABLE} is carried: docs/ddl.md), and writes to it. The stream back to the old side stops at that
     * change, and its slot keeps the new primary's WAL from then on; nothing said so (status() kept saying CUT_OVER).
     * Now status() reports FAILED with how far behind it is, the statement and the fix, and applyOnFencedSide() makes
     * the same change on the fenced old side, after which the stream back catches up with the row.
     */
    @Test
    void aSchemaChangeOnTheNewSideThatCannotBeReplayedFailsTheStreamBackVisiblyAndApplyOnFencedSideMendsIt(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "deploy";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (Migration m = CutoverContract.streaming(target, db,
                CutoverContract.builder(source, target, state, "deploy", db))) {
            assertThat(m.cutover().succeeded()).isTrue();

            target.execute(db, "DO $$ BEGIN EXECUTE 'ALTER TABLE ledger ADD COLUMN x integer'; END $$");
            target.execute(db, "INSERT INTO ledger (writer, seq, x) VALUES (9, 1, 1)");

            DatabaseStatus failed = awaitPhase(m, db, Phase.FAILED);
            assertThat(failed.message()).contains("fails to apply on the source").contains("bytes behind")
                    .contains("applyOnFencedSide").contains("ALTER TABLE ledger ADD COLUMN x integer");
            assertThat(failed.lagBytes()).isPositive();

            m.applyOnFencedSide(db, "ALTER TABLE ledger ADD COLUMN x integer");
            // FAILED until the worker's next attempt (every few seconds) applies the row.
            awaitPhase(m, db, Phase.CUT_OVER);
            m.awaitInSync(SYNC);
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM ledger WHERE x = 1")).isOne();
            assertThat(m.status().database(db).phase()).isEqualTo(Phase.CUT_OVER);
            m.complete();
        }
    }

    /** Calls status() until {@code db} is in {@code phase}: the worker fails again every few seconds. */
    static DatabaseStatus awaitPhase(Migration m, String db, Phase phase) throws InterruptedException {
        long deadline = System.nanoTime() + SYNC.toNanos();
        DatabaseStatus d = m.status().database(db);
        while (d.phase() != phase) {
            assertThat(System.nanoTime()).as("%s reaches %s; last status: %s", db, phase, d).isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(500);
            d = m.status().database(db);
        }
        return d;
    }
}
