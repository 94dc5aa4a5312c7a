package io.pgmigrate.core.it;

import io.pgmigrate.CutoverException;
import io.pgmigrate.Migration;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
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
            StateStore holdsTheStandby = HookedStateStore.afterSaving(StateStore.directory(state), "\"FENCED\"",
                    () -> {
                        if (once.compareAndSet(false, true)) {
                            standby.hold(); // the first cutover's only
                        }
                    });
            try (Migration m = CutoverContract.streaming(target, db, Migration.builder().name("standby")
                    .source(source.endpoint()).target(target.endpoint()).databases(db).stateStore(holdsTheStandby)
                    .cutoverTimeout(Duration.ofSeconds(5)))) {
                requireSynchronousStandby(target);
                source.execute(db, "INSERT INTO ledger (writer, seq) SELECT 1, g FROM generate_series(1, 100) g");

                Throwable e = catchThrowable(m::cutover);
                assertThat(e).as("abandoned before the switch, not after it").isInstanceOf(CutoverException.class);
                assertThat(e.getMessage()).contains("synchronous standbys");
                assertThat(((CutoverException) e).report().succeeded()).isFalse();
                CutoverContract.assertSourceAcceptsWrites(source, db);

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
