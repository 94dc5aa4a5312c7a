package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
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
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * A component of the stream removed or switched off by someone else while the migration runs: status() says what
 * happened and the fix instead of claiming to stream, start() repairs what it safely can and refuses, naming why,
 * what it cannot.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class BrokenComponentsIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    /**
     * A dropped publication: status() kept saying STREAMING ("the workers failed 7 times"), start() did nothing and
     * awaitInSync() timed out. The changes written while it is missing cannot be streamed even once it is created
     * again, so status() says FAILED with why and the fix, start() refuses, and so does the cutover.
     */
    @Test
    void aDroppedPublicationIsReportedAsFailedWithTheFixAndNeitherStartNorCutoverPretend(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "unpublished";
        Ledger.create(source, db, 1);
        try (Migration m = CutoverContract.builder(source, target, state, "unpublished", db).build()) {
            m.start();
            m.awaitInSync(SYNC);
            source.execute(db, "DROP PUBLICATION pgmigrate_unpublished_unpublished_pub");
            source.execute(db, "INSERT INTO ledger (writer, seq) VALUES (5, 1)");

            DatabaseStatus d = m.status().database(db);
            assertThat(d.phase()).isEqualTo(Phase.FAILED);
            assertThat(d.message()).contains("publication pgmigrate_unpublished_unpublished_pub is gone")
                    .contains("complete()");
            PgMigrateException e = catchThrowableOfType(PgMigrateException.class, m::start);
            assertThat(e).as("start() refuses").isNotNull();
            assertThat(e.code()).isEqualTo(CoreErrorCode.REPLICATION_OBJECT_LOST);
            assertThat(e.getMessage()).contains("is gone from the source");
            CutoverException refused = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(refused).as("the cutover refuses").isNotNull();
            assertThat(refused.getMessage()).contains("is gone from the source").contains("nothing was changed");
            m.complete();
        }
        assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_replication_slots"
                + " WHERE slot_name LIKE 'pgmigrate\\_unpublished%'")).isZero();
    }

    /**
     * A row only the target has meets the same key from the source: the subscription's worker fails again and again,
     * and status() says so. awaitInSync() called then fails at once; called once the row is gone, it waits for the
     * stream, instead of failing on what status() saw before the worker could retry (MigrationMetricsIT met that).
     */
    @Test
    void awaitInSyncAfterTheCauseOfAFailingStreamIsRemovedWaitsForTheStreamInsteadOfFailingOnOldFailures(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "conflicted";
        Ledger.create(source, db, 1);
        try (Migration m = CutoverContract.builder(source, target, state, "conflicted", db).build()) {
            m.start();
            m.awaitInSync(SYNC);
            target.execute(db, "SET session_replication_role = replica;"
                    + " INSERT INTO ledger (id, writer, seq, note) VALUES (900007, 7, 1, 'only on the target')");
            source.execute(db, "INSERT INTO ledger (id, writer, seq, note) VALUES (900007, 7, 1, 'from the source')");
            assertThat(SchemaChangeAfterCutoverIT.awaitPhase(m, db, Phase.FAILED).message()).contains("keeps failing");
            PgMigrateException stillFailing = catchThrowableOfType(PgMigrateException.class, () -> m.awaitInSync(SYNC));
            assertThat(stillFailing).as("awaitInSync() while the stream keeps failing").isNotNull();
            assertThat(stillFailing.code()).isEqualTo(CoreErrorCode.REPLICATION_FAILED);

            target.execute(db, "SET session_replication_role = replica;"
                    + " DELETE FROM ledger WHERE writer = 7 AND seq = 1");
            m.awaitInSync(SYNC);
            assertThat(Fixtures.fingerprint(target, db, "public.ledger"))
                    .isEqualTo(Fixtures.fingerprint(source, db, "public.ledger"));
            assertThat(m.status().database(db).phase()).isEqualTo(Phase.STREAMING);
        }
    }

    /**
     * The target refuses writes from start() on (review F4). Someone dropped the fence's trigger on one table there:
     * status() said nothing while a stray write to that table was accepted. Now its message names the table and the
     * fix (the stream itself is fine, so the phase stays), and start() installs the trigger again.
     */
    @Test
    void aFenceTriggerDroppedOnTheTargetIsReportedAndStartInstallsItAgain(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "unfenced";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (Migration m = CutoverContract.streaming(target, db,
                CutoverContract.builder(source, target, state, "unfenced", db))) {
            target.execute(db, "DROP TRIGGER pgmigrate_unfenced_unfenced_fence ON ledger");

            DatabaseStatus d = m.status().database(db);
            assertThat(d.phase()).isEqualTo(Phase.STREAMING);
            assertThat(d.message()).contains("fence on the target is incomplete").contains("public.ledger")
                    .contains("start()");

            m.start();
            assertThat(m.status().database(db).phase()).isEqualTo(Phase.STREAMING);
            assertThat(m.status().database(db).message()).isEmpty();
            CutoverContract.assertRefusesWrites(target.host(), target.port(), db);

            // Disabled rather than dropped: the same.
            target.execute(db, "ALTER TABLE ledger DISABLE TRIGGER pgmigrate_unfenced_unfenced_fence");
            assertThat(m.status().database(db).message()).contains("public.ledger").contains("disabled");
            m.start();
            assertThat(m.status().database(db).message()).isEmpty();
            CutoverContract.assertRefusesWrites(target.host(), target.port(), db);
            m.complete();
        }
    }

    /**
     * A subscription someone disabled: nothing is lost, but nothing streams, and status() said STREAMING. Now it
     * says FAILED with the fix, and start() enables it again: what was written meanwhile arrives.
     */
    @Test
    void aSubscriptionDisabledBySomeoneIsReportedAndStartEnablesItAgainLosingNothing(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "switched_off";
        Ledger.create(source, db, 1);
        try (Migration m = CutoverContract.builder(source, target, state, "switched_off", db).build()) {
            m.start();
            m.awaitInSync(SYNC);
            target.execute(db, "ALTER SUBSCRIPTION pgmigrate_switched_off_switched_off_sub DISABLE");
            source.execute(db, "INSERT INTO ledger (writer, seq) VALUES (5, 1)");

            DatabaseStatus d = m.status().database(db);
            assertThat(d.phase()).isEqualTo(Phase.FAILED);
            assertThat(d.message()).contains("was disabled, not by pause()").contains("call start()");

            m.start();
            m.awaitInSync(SYNC);
            assertThat(m.status().database(db).phase()).isEqualTo(Phase.STREAMING);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer = 5")).isOne();
            m.complete();
        }
    }

    /**
     * A subscription someone dropped (its slot goes with it): start() created it again and copied every table into
     * a target that already held them. Now status() says FAILED and start() refuses with the fix.
     */
    @Test
    void aDroppedSubscriptionIsNotCreatedAgainOverTheCopiedTables(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "unsubscribed";
        Ledger.create(source, db, 1);
        try (Migration m = CutoverContract.builder(source, target, state, "unsubscribed", db).build()) {
            m.start();
            m.awaitInSync(SYNC);
            target.execute(db, "DROP SUBSCRIPTION pgmigrate_unsubscribed_unsubscribed_sub");

            assertThat(m.status().database(db).phase()).isEqualTo(Phase.FAILED);
            PgMigrateException e = catchThrowableOfType(PgMigrateException.class, m::start);
            assertThat(e).as("start() refuses").isNotNull();
            assertThat(e.code()).isEqualTo(CoreErrorCode.REPLICATION_OBJECT_LOST);
            assertThat(e.getMessage()).contains("is gone from the target").contains("complete()");
            m.complete();
        }
    }
}
