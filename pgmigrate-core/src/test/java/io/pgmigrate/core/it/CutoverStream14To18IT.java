package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * The cutover proofs with the STREAM engine from PostgreSQL 14 to 18: pgmigrate applies the stream itself, and the
 * reverse stream avoids loops by running one direction at a time. Also what only STREAM has: its stream runs in the
 * process that drives the migration.
 */
@PostgresPair(source = 14, target = 18)
class CutoverStream14To18IT extends CutoverContract {

    private static final Duration SYNC = Duration.ofMinutes(2);

    @Override
    Engine engine() {
        return Engine.STREAM;
    }

    /**
     * A stream that keeps failing (here the target refuses its rows) would let the sentinel wait out the whole window
     * with the source fenced: the pre-check refuses instead, and nothing is fenced.
     */
    @Test
    void aStreamThatKeepsFailingIsRefusedBeforeAnythingIsFenced(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "failing";
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        try (Migration m = streaming(target, db, migration(source, target, state, "failing", db))) {
            target.execute(db, "ALTER TABLE ledger ADD CONSTRAINT refuses CHECK (writer < 0) NOT VALID");
            source.execute(db, "INSERT INTO ledger (writer, seq) VALUES (1, 1)");
            long deadline = System.nanoTime() + SYNC.toNanos();
            while (!m.status().database(db).message().contains("fail")) {
                assertThat(System.nanoTime()).as("the stream reports its failure").isLessThan(deadline);
                Thread.sleep(20);
            }
            PgMigrateException refused = catchThrowableOfType(PgMigrateException.class, m::cutover);
            assertThat(refused).isNotNull();
            assertThat(refused.code()).isEqualTo(CoreErrorCode.CUTOVER_FAILED);
            assertThat(refused.getMessage()).contains("pre-check").contains("failed").contains("nothing was changed");
            assertSourceAcceptsWrites(source, db);

            target.execute(db, "ALTER TABLE ledger DROP CONSTRAINT refuses");
            while (Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer = 1 AND seq = 1") == 0) {
                assertThat(System.nanoTime()).as("the stream applies again").isLessThan(deadline);
                Thread.sleep(20);
            }
            m.awaitInSync(SYNC);
            assertThat(Fixtures.fingerprint(target, db, "public.ledger"))
                    .isEqualTo(Fixtures.fingerprint(source, db, "public.ledger"));
        }
    }

    /**
     * A process whose lock on the migration was ended (an operator's pg_terminate_backend of a hung driver, as the
     * refusal of a second process tells) stops its stream instead of reconnecting: the new driver may turn the streams
     * around, and the old one must not stream into the side that then takes traffic.
     */
    @Test
    void aProcessThatLostTheMigrationsLockStopsItsStream(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "lost_lock";
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        try (Migration m = streaming(target, db, migration(source, target, state, "lostlock", db))) {
            long holder = Fixtures.count(source, db, "SELECT l.pid FROM pg_locks l"
                    + " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = hashtext('lostlock')::oid"
                    + " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())");
            source.execute(db, "SELECT pg_terminate_backend(" + holder + ")");
            // the stream's own walsender ends too: the worker's next round finds the lock gone
            source.execute("postgres", "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                    + " WHERE slot_name = 'pgmigrate_lostlock_lost_lock_slot' AND active_pid IS NOT NULL");
            long deadline = System.nanoTime() + SYNC.toNanos();
            while (!m.status().database(db).message().contains("no process runs it")) {
                assertThat(System.nanoTime()).as("the stream stops").isLessThan(deadline);
                Thread.sleep(20);
            }
            assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots"
                    + " WHERE slot_name = 'pgmigrate_lostlock_lost_lock_slot' AND active")).isZero();
        }
    }
}
