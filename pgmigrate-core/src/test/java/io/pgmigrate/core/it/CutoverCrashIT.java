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

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The migrating JVM killed ({@code SIGKILL}) between the fence and the traffic switch, or just after traffic moved: a
 * new {@link Migration} on the same state directory either finishes the cutover or rolls it back, and no write a
 * client saw committed is lost.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class CutoverCrashIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    /** The engine these proofs run with; {@link CutoverCrashStreamIT} runs them for STREAM. */
    Engine engine() {
        return Engine.NATIVE;
    }

    io.pgmigrate.MigrationBuilder builder(PostgresServer source, PostgresServer target, Path state, String name,
                                          String db) {
        return CutoverContract.builder(source, target, state, name, db).engine(engine());
    }

    @Test
    void aCutoverKilledBeforeTheSwitchIsFinishedByANewMigration(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "crash_finish";
        try (TcpProxy proxy = prepare(source, target, state, "finish", db)) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 4);
            CutoverReport report;
            try (w) {
                w.awaitMoreCommits(200);
                killMidCutover(source, target, state, "finish", db);
                CutoverContract.assertSourceRefusesWrites(source, db);
                try (Migration m = builder(source, target, state, "finish", db).trafficSwitch(proxy)
                        .build()) {
                    report = m.cutover();
                    assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.CUT_OVER);
                }
                w.awaitMoreCommits(200);
            }
            assertThat(report.succeeded()).isTrue();
            assertThat(proxy.active()).isEqualTo(Side.TARGET);
            assertThat(Ledger.keys(target, db)).containsAll(w.confirmed());
            CutoverContract.assertSourceRefusesWrites(source, db);
            try (Migration m = builder(source, target, state, "finish", db).build()) {
                m.awaitInSync(SYNC);
                assertThat(Fixtures.fingerprint(source, db, "public.ledger"))
                        .isEqualTo(Fixtures.fingerprint(target, db, "public.ledger"));
                m.complete();
            }
        }
    }

    @Test
    void aCutoverKilledBeforeTheSwitchIsRolledBackByANewMigration(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "crash_back";
        try (TcpProxy proxy = prepare(source, target, state, "back", db)) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 4);
            CutoverReport back;
            try (w) {
                w.awaitMoreCommits(200);
                killMidCutover(source, target, state, "back", db);
                try (Migration m = builder(source, target, state, "back", db).trafficSwitch(proxy)
                        .build()) {
                    back = m.rollback();
                    w.awaitMoreCommits(200);
                    assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.STREAMING);
                    var seen = w.confirmed();
                    m.awaitInSync(SYNC);
                    assertThat(Ledger.keys(target, db)).as("the forward stream runs again").containsAll(seen);
                    // and the same migration can still cut over and back, under the writers' load: each move
                    // waits for its stream to come within cutoverMaxLagBytes before it fences anything
                    CutoverReport again = m.cutover();
                    assertThat(again.succeeded()).isTrue();
                    m.rollback();
                    m.complete();
                }
            }
            assertThat(back.to()).isEqualTo(Side.SOURCE);
            assertThat(back.succeeded()).isTrue();
            assertThat(Ledger.keys(source, db)).containsAll(w.confirmed());
            CutoverContract.assertSourceAcceptsWrites(source, db);
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%fence'"))
                    .isZero();
            assertThat(Fixtures.count(target, "postgres",
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgmigrate\\_back\\_%'")).isZero();
        }
    }

    @Test
    void aCutoverKilledJustAfterTheSwitchIsFinishedByARollbackThatKeepsTheNewSidesWrites(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "crash_after";
        try (TcpProxy proxy = prepare(source, target, state, "after", db);
             ServerSocket control = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 4);
            CutoverReport back;
            try (w) {
                w.awaitMoreCommits(200);
                Process child = startChild(source, target, state, "after", db, control.getLocalPort());
                try {
                    // The child's switch asks us to move the proxy, then the child dies before journaling it.
                    control.setSoTimeout(120_000);
                    try (Socket s = control.accept();
                         var in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                         var out = new PrintWriter(s.getOutputStream(), true, StandardCharsets.UTF_8)) {
                        proxy.switchTo(Side.valueOf(in.readLine()));
                        out.println("OK");
                    }
                    awaitLine(child, CrashingCutover.SWITCHED, state, "after");
                } finally {
                    child.destroyForcibly();
                    child.waitFor(30, TimeUnit.SECONDS);
                }
                // Traffic reached the target, but its fence comes off only when a process finishes the cutover:
                // until then nothing is accepted on either side, rather than writes nobody carries back.
                assertTargetRefusesWrites(proxy, db);
                try (Migration m = builder(source, target, state, "after", db).trafficSwitch(proxy)
                        .build()) {
                    // Finishes the cutover the child left, lets the target take writes only it has, then rolls back.
                    assertThat(m.recover()).hasValueSatisfying(r -> assertThat(r.to()).isEqualTo(Side.TARGET));
                    w.awaitMoreCommits(100);
                    back = m.rollback();
                    w.awaitMoreCommits(100);
                    m.complete();
                }
            }
            assertThat(back.to()).isEqualTo(Side.SOURCE);
            assertThat(back.succeeded()).isTrue();
            assertThat(proxy.active()).isEqualTo(Side.SOURCE);
            assertThat(Ledger.keys(source, db)).as("the writes made on the target after the switch came back")
                    .containsAll(w.confirmed());
        }
    }

    /**
     * A supervisor restarting after a crash must end the move that was under way in its own direction and start no
     * other (review F7: the Pacemaker agent called {@code cutover()}, which finished a crashed rollback and then cut
     * over again, moving traffic back to the side the operator was leaving).
     */
    @Test
    void aRollbackKilledInsideTheSwitchIsFinishedByRecoverWhichStartsNoOtherMove(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "crash_recover";
        try (TcpProxy proxy = prepare(source, target, state, "recover", db)) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 2);
            Optional<CutoverReport> recovered;
            try (w) {
                w.awaitMoreCommits(100);
                try (Migration m = builder(source, target, state, "recover", db).trafficSwitch(proxy)
                        .build()) {
                    assertThat(m.cutover().succeeded()).isTrue();
                }
                w.awaitMoreCommits(100);
                killMidMove(source, target, state, "recover", db, "rollback");
                try (Migration m = builder(source, target, state, "recover", db).trafficSwitch(proxy)
                        .build()) {
                    recovered = m.recover();
                    assertThat(m.recover()).as("nothing is pending any more").isEmpty();
                    assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.STREAMING);
                }
                w.awaitMoreCommits(100);
            }
            assertThat(recovered).hasValueSatisfying(r -> {
                assertThat(r.to()).isEqualTo(Side.SOURCE);
                assertThat(r.succeeded()).isTrue();
            });
            assertThat(proxy.active()).as("the rollback was finished, and no cutover followed").isEqualTo(Side.SOURCE);
            assertThat(Ledger.keys(source, db)).containsAll(w.confirmed());
        }
    }

    private static void assertTargetRefusesWrites(TcpProxy proxy, String db) throws Exception {
        assertThat(proxy.active()).isEqualTo(Side.TARGET);
        CutoverContract.assertRefusesWrites(proxy.host(), proxy.port(), db);
    }

    private TcpProxy prepare(PostgresServer source, PostgresServer target, Path state, String name, String db) {
        Ledger.create(source, db, 4);
        Ledger.createRole(target);
        try (Migration m = builder(source, target, state, name, db).build()) {
            m.start();
            m.awaitInSync(SYNC);
        }
        Ledger.grant(target, db);
        return CutoverContract.proxy(source, target);
    }

    /** Runs a cutover in a child JVM and kills it with SIGKILL once it is inside the traffic switch. */
    private void killMidCutover(PostgresServer source, PostgresServer target, Path state, String name, String db)
            throws Exception {
        killMidMove(source, target, state, name, db, "cutover");
    }

    /** Runs a cutover or rollback ({@code move}) in a child JVM and kills it once it is inside the traffic switch. */
    private void killMidMove(PostgresServer source, PostgresServer target, Path state, String name, String db,
                                    String move) throws Exception {
        Process child = startChild(source, target, state, name, db, -1, move);
        try {
            awaitLine(child, CrashingCutover.SWITCHING, state, name);
        } finally {
            child.destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private Process startChild(PostgresServer source, PostgresServer target, Path state, String name, String db,
                                      int controlPort) throws Exception {
        return startChild(source, target, state, name, db, controlPort, "cutover");
    }

    private Process startChild(PostgresServer source, PostgresServer target, Path state, String name, String db,
                                      int controlPort, String move) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "-Dcrash.move=" + move,
                "-Dcrash.engine=" + engine(), "-cp",
                System.getProperty("java.class.path"), CrashingCutover.class.getName(), source.host(), Integer.toString(source.port()), target.host(),
                Integer.toString(target.port()), source.superuser(), state.toString(), name, db));
        if (controlPort > 0) {
            command.add(Integer.toString(controlPort));
        }
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.redirectError(state.resolve("child-" + name + ".log").toFile());
        return pb.start();
    }

    /**
     * Reads the child's output until {@code line}, for two minutes at most (a read from a pipe ignores interrupts, so
     * the test's own timeout could not end it): a child that gets stuck is killed, which ends the read.
     */
    static void awaitLine(Process child, String line, Path state, String name) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> reached = CompletableFuture.supplyAsync(() -> {
            try {
                String l;
                while ((l = out.readLine()) != null && !l.equals(line)) {
                    // wait for the child to get there
                }
                return l;
            } catch (java.io.IOException e) {
                return null;
            }
        });
        String l;
        try {
            l = reached.get(2, TimeUnit.MINUTES);
        } catch (TimeoutException e) {
            child.destroyForcibly();
            l = null;
        }
        if (!line.equals(l)) {
            Path log = state.resolve("child-" + name + ".log");
            String text = java.nio.file.Files.exists(log) ? java.nio.file.Files.readString(log) : "(no log)";
            throw new AssertionError("the child did not print " + line + "; its log:\n"
                    + text.substring(Math.max(0, text.length() - 4000)));
        }
    }
}
