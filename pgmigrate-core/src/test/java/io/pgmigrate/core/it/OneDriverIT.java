package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.StateStore;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * One live process drives a migration at a time (review F3). Two {@code Migration} objects on one state directory
 * stand for two processes: each has its own sessions, so each would hold its own lock.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class OneDriverIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    /**
     * Process A cuts over and hangs inside the window (its connections to the target go silent after the fence went
     * up). Without a lock, process B resumed A's cutover and finished it, and A, waking up, undid it from its stale
     * journal: the source unfenced and traffic back on it while the target kept B's writes (split brain). Now B is
     * refused and told who holds the migration; once the operator ends that session, B finishes the move, and A,
     * waking up, changes nothing.
     */
    @Test
    void aSecondProcessIsRefusedNamingTheHolderAndAHungOneThatWakesCannotUndoWhatTheNewerFinished(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "two_drivers";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        CountDownLatch fenced = new CountDownLatch(1);
        try (TcpStub network = TcpStub.forwarding(target.host(), target.port())) {
            Endpoint throughNetwork = network.endpointFor(target);
            MigrationListener cutsTheNetwork = AfterStep.of("fence ", () -> {
                network.freezeOpenConnections();
                fenced.countDown();
            });
            Migration a = Migration.builder().name("contested").source(source.endpoint()).target(throughNetwork)
                    .targetAsSeenBySource(target.endpoint()).databases(db).stateDirectory(state).listener(cutsTheNetwork)
                    .cutoverTimeout(Duration.ofMinutes(3)).build();
            // The same configuration, as a second process started from the same file would have; its connections
            // are new, so the path works for it.
            Migration b = Migration.builder().name("contested").source(source.endpoint()).target(throughNetwork)
                    .targetAsSeenBySource(target.endpoint()).databases(db).stateDirectory(state).build();
            try (a; b) {
                a.start();
                a.awaitInSync(SYNC);
                Ledger.grant(target, db);

                CompletableFuture<CutoverReport> hung = CompletableFuture.supplyAsync(a::cutover);
                try {
                    assertThat(fenced.await(2, TimeUnit.MINUTES)).as("A fenced the source and hangs").isTrue();

                    PgMigrateException refused = catchThrowableOfType(PgMigrateException.class, b::cutover);
                    assertThat(refused).as("B is refused while A holds the migration").isNotNull();
                    assertThat(refused.code()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE);
                    long holder = lockHolder(source, db, "contested");
                    assertThat(refused.getMessage()).contains("pid " + holder).contains("pg_terminate_backend");
                    CutoverContract.assertSourceRefusesWrites(source, db);

                    // The operator ends the hung process's session, as the message says; B takes over and finishes.
                    terminate(source, db, holder);
                    CutoverReport finished = b.cutover();
                    assertThat(finished.succeeded()).isTrue();

                    network.breakFrozen(); // A's connections break: it wakes up in the window
                    Throwable woke = catchThrowable(() -> hung.get(2, TimeUnit.MINUTES));
                    assertThat(woke).isInstanceOf(ExecutionException.class);
                    assertThat(woke.getCause()).isInstanceOfSatisfying(PgMigrateException.class,
                            e -> assertThat(e.code()).as(e.getMessage()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE));

                    CutoverContract.assertSourceRefusesWrites(source, db);
                    assertThat(b.status().databases().get(0).phase()).isEqualTo(Phase.CUT_OVER);
                    try (var c = Ledger.connectAsApp(target.host(), target.port(), db); var s = c.createStatement()) {
                        assertThat(s.executeUpdate("INSERT INTO ledger (writer, seq) VALUES (-5, 1)")).isOne();
                    }
                    b.complete();
                } finally {
                    network.breakFrozen(); // never leave A hung: close() waits for its cutover
                }
            }
        }
    }

    /**
     * Inside the window the journal is written only before the switch, so the steps between check the lock
     * themselves. Process A hangs right after its sentinel (a long pause: a frozen VM, a collector); its lock session
     * is ended and B finishes the cutover; the application then writes a large object on the target. A, waking up,
     * must stop at once: it used to run its large-object step, which made the target's large objects the source's
     * and deleted that one, then set sequences and moved the reverse stream, and stopped only at its next journal write.
     */
    @Test
    void aProcessThatHungAfterItsSentinelAndLostTheMigrationChangesNothingWhenItWakes(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "woke_late";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        CountDownLatch hung = new CountDownLatch(1);
        CountDownLatch wake = new CountDownLatch(1);
        MigrationListener hangs = AfterStep.of("sentinel applied", () -> {
            hung.countDown();
            try {
                wake.await(3, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Migration a = Migration.builder().name("woke").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).listener(hangs).build();
        Migration b = Migration.builder().name("woke").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build();
        try (a; b) {
            a.start();
            a.awaitInSync(SYNC);
            Ledger.grant(target, db);
            CompletableFuture<CutoverReport> hanging = CompletableFuture.supplyAsync(a::cutover);
            try {
                assertThat(hung.await(2, TimeUnit.MINUTES)).as("A applied its sentinel and hangs").isTrue();
                long holder = lockHolder(source, db, "woke");
                terminate(source, db, holder);
                assertThat(b.cutover().succeeded()).isTrue();
                Fixtures.count(target, db, "SELECT lo_from_bytea(0, 'written after the cutover')::bigint");
            } finally {
                wake.countDown();
            }
            Throwable woke = catchThrowable(() -> hanging.get(2, TimeUnit.MINUTES));
            assertThat(woke).isInstanceOf(ExecutionException.class);
            assertThat(woke.getCause()).isInstanceOfSatisfying(PgMigrateException.class,
                    e -> assertThat(e.code()).as(e.getMessage()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE));
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_largeobject_metadata"))
                    .as("the large object the application wrote on the target after the cutover").isOne();
            assertThat(b.status().databases().get(0).phase()).isEqualTo(Phase.CUT_OVER);
            b.complete();
        }
    }

    /**
     * A source whose idle_session_timeout ends idle sessions: the lock's session sits idle while a cutover waits for
     * a backlog, so the server ended it and the cutover, finding its lock gone at its first journal write, stopped
     * with MIGRATION_IN_USE. The migration's sessions turn the timeout off for themselves.
     */
    @Test
    void aSourceThatEndsIdleSessionsDoesNotTakeTheLockFromACutoverWaitingForABacklog(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "idle_limit";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        source.execute(db, "ALTER DATABASE idle_limit SET idle_session_timeout = '1s'");
        try (Migration m = CutoverContract.streaming(target, db,
                CutoverContract.builder(source, target, state, "idle_limit", db).cutoverMaxLagBytes(1024))) {
            CompletableFuture<CutoverReport> cutover;
            try (Connection block = CutoverPrecheckIT.blockApply(target, db)) {
                source.execute(db, "INSERT INTO ledger (writer, seq, note) SELECT 3, g, repeat('x', 100)"
                        + " FROM generate_series(1, 200) g");
                cutover = CompletableFuture.supplyAsync(m::cutover);
                // A session of anyone else, opened after the cutover began, is ended for idling: so would the lock's
                // session have been by now.
                try (Connection other = source.connect(db)) {
                    long pid;
                    try (var st = other.createStatement(); var rs = st.executeQuery("SELECT pg_backend_pid()")) {
                        rs.next();
                        pid = rs.getLong(1);
                    }
                    // Watched from other sessions: a query on it would reset its idle time.
                    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
                    while (Fixtures.count(source, db, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) > 0) {
                        assertThat(System.nanoTime()).as("the server ends idle sessions").isLessThan(deadline);
                        TimeUnit.MILLISECONDS.sleep(200);
                    }
                }
                assertThat(cutover).as("the cutover waits for the backlog").isNotDone();
            }
            assertThat(cutover.get(2, TimeUnit.MINUTES).succeeded()).isTrue();
            m.complete();
        } finally {
            source.execute(db, "ALTER DATABASE idle_limit RESET idle_session_timeout");
        }
    }

    /**
     * A process that only looks (another tool's {@code status()}) neither takes the migration nor writes its
     * journal, and sees what the driver recorded; the driver's next changing call is not refused because of it.
     */
    @Test
    void aProcessThatOnlyReadsTheStatusNeitherTakesTheMigrationNorWritesItsState(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "observed";
        Ledger.create(source, db, 1);
        try (Migration driver = CutoverContract.builder(source, target, state, "observed", db).build();
             Migration observer = CutoverContract.builder(source, target, state, "observed", db).build()) {
            driver.start();
            driver.awaitInSync(SYNC);
            String before = StateStore.directory(state).load("observed").orElseThrow();

            assertThat(observer.status().databases().get(0).phase()).isEqualTo(Phase.STREAMING);
            assertThat(observer.awaitInSync(SYNC).databases().get(0).phase()).isEqualTo(Phase.STREAMING);
            assertThat(StateStore.directory(state).load("observed")).as("the observer wrote nothing").contains(before);

            driver.pause();
            assertThat(observer.status().databases().get(0).phase()).as("the observer reads the journal anew")
                    .isEqualTo(Phase.PAUSED);
            PgMigrateException e = catchThrowableOfType(PgMigrateException.class, observer::start);
            assertThat(e).as("the observer cannot start").isNotNull();
            assertThat(e.code()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE);
            driver.complete();
        }
    }

    /** The pid of the session holding the advisory lock of migration {@code name} in {@code db}. */
    private static long lockHolder(PostgresServer source, String db, String name) throws SQLException {
        try (Connection c = source.connect(db); PreparedStatement ps = c.prepareStatement("SELECT l.pid FROM pg_locks l"
                + " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = hashtext(?)::oid"
                + " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("a session holds the lock of migration " + name).isTrue();
                return rs.getLong(1);
            }
        }
    }

    /** Ends session {@code pid}, as the refusal's message tells the operator to. */
    private static void terminate(PostgresServer source, String db, long pid) throws SQLException {
        try (Connection c = source.connect(db);
             PreparedStatement ps = c.prepareStatement("SELECT pg_terminate_backend(?)")) {
            ps.setInt(1, Math.toIntExact(pid));
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next() && rs.getBoolean(1)).as("session " + pid + " was ended").isTrue();
            }
        }
    }
}
