package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.Lsn;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationBuilder;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Sentinel;
import io.pgmigrate.Side;
import io.pgmigrate.StateStore;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

/**
 * The new primary's synchronous standbys (review F18). The subscription applies with {@code synchronous_commit = off},
 * so the sentinel proves a flush on the new primary only; a failover to its standby right after the cutover would
 * lose the last applied transactions while the old side is fenced. The traffic moves only once the standby confirmed
 * everything applied: with the standby held inside the window, the cutover is abandoned before the switch.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class StandbyDurabilityIT {

    private static final String STANDBY = "pgmigrate_standby";

    @Test
    void theTrafficMovesOnlyOnceTheNewPrimarysSynchronousStandbyHoldsWhatWasApplied(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "standby";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (SyncStandby standby = SyncStandby.start(target, STANDBY)) {
            AtomicBoolean once = new AtomicBoolean();
            // Right after the fence went up, before the sentinel.
            MigrationListener holdsTheStandby = AfterStep.of("fence ", () -> {
                if (once.compareAndSet(false, true)) {
                    standby.hold(); // the first cutover's only
                }
            });
            try (Migration m = CutoverContract.streaming(target, db, builder(source, target, db,
                    StateStore.directory(state)).listener(holdsTheStandby))) {
                requireSynchronousStandby(target);
                source.execute(db, "INSERT INTO ledger (writer, seq) SELECT 1, g FROM generate_series(1, 100) g");
                // Someone cancels the commit that waits for the standby (an operator, a watchdog): PostgreSQL then
                // ends the wait with a warning only, and the commit reports success.
                CompletableFuture<Integer> canceller = CompletableFuture.supplyAsync(() -> cancelTheWaitForTheStandby(
                        target));

                Throwable e = catchThrowable(m::cutover);
                assertThat(canceller.get(1, TimeUnit.MINUTES)).as("the waiting commit was cancelled").isPositive();
                assertThat(e).as("abandoned before the switch, not after it").isInstanceOf(CutoverException.class);
                assertThat(e.getMessage()).contains("synchronous standbys");
                assertThat(((CutoverException) e).report().succeeded()).isFalse();
                CutoverContract.assertSourceAcceptsWrites(source, db);

                // The public primitive keeps to its timeout while the standby does not answer.
                Sentinel sentinel = m.sentinel(Side.SOURCE, db);
                Lsn mark = sentinel.emit();
                long started = System.nanoTime();
                assertThatThrownBy(() -> sentinel.await(mark, Duration.ofSeconds(3)))
                        .isInstanceOfSatisfying(PgMigrateException.class,
                                x -> assertThat(x.code()).isEqualTo(CoreErrorCode.TIMEOUT))
                        .hasMessageContaining("synchronous standbys");
                assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofMinutes(1));

                standby.resume();
                awaitStandbyCaughtUp(target);
                assertThat(m.cutover().succeeded()).as("with the standby confirming, the cutover goes through")
                        .isTrue();
                assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer = 1")).isEqualTo(100);
                m.complete();
            } finally {
                target.execute("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
                target.execute("postgres", "SELECT pg_reload_conf()");
            }
        }
    }

    /** Cancels the first session of the target that waits for a synchronous standby; returns its pid. */
    private static int cancelTheWaitForTheStandby(PostgresServer target) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try {
            while (true) {
                String pid = Fixtures.text(target, "postgres", "SELECT coalesce(min(pid), 0)::text FROM pg_stat_activity"
                        + " WHERE wait_event = 'SyncRep'");
                if (!pid.equals("0")) {
                    target.execute("postgres", "SELECT pg_cancel_backend(" + pid + ")");
                    return Integer.parseInt(pid);
                }
                assertThat(System.nanoTime()).as("a commit waits for the standby within 60 s").isLessThan(deadline);
                TimeUnit.MILLISECONDS.sleep(10);
            }
        } catch (SQLException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The migration under test; the window is generous, so only the standby can make it run out. */
    private static MigrationBuilder builder(PostgresServer source, PostgresServer target, String db, StateStore store) {
        return Migration.builder().name("standby").source(source.endpoint()).target(target.endpoint()).databases(db)
                .stateStore(store).cutoverTimeout(Duration.ofSeconds(20));
    }

    /** Waits until the standby confirmed the target's WAL as it is now. */
    private static void awaitStandbyCaughtUp(PostgresServer target) throws SQLException, InterruptedException {
        String now = Fixtures.text(target, "postgres", "SELECT pg_current_wal_lsn()::text");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"
                + STANDBY + "' AND flush_lsn >= '" + now + "'") == 0) {
            assertThat(System.nanoTime()).as("the standby confirms within 60 s: " + Fixtures.text(target, "postgres",
                    "SELECT string_agg(state || ' ' || flush_lsn, ', ') FROM pg_stat_replication")).isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }

    /** Makes {@link #STANDBY} the target's synchronous standby and waits until the server says so. */
    private static void requireSynchronousStandby(PostgresServer target) throws SQLException, InterruptedException {
        target.execute("postgres", "ALTER SYSTEM SET synchronous_standby_names = '" + STANDBY + "'");
        target.execute("postgres", "SELECT pg_reload_conf()");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"
                + STANDBY + "' AND sync_state = 'sync'") == 0) {
            assertThat(System.nanoTime()).as("the standby is synchronous within 60 s").isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }
}
