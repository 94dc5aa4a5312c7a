package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.Side;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * A known password, on servers that require one, never shows up in what pgmigrate writes or returns: log output
 * (pgmigrate's, pgjdbc's and the servers' own, all captured while the class runs), exception messages and stack
 * traces, {@code toString()} of every object a caller holds, reports, and state files.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SecretsIT {

    private static final String PASSWORD = "pgm-Ω-Vault-Secret-8c1f2d";
    /** Looked for too: survives a text encoding that mangles the Ω. */
    private static final String PASSWORD_TAIL = "Vault-Secret-8c1f2d";
    private static final Duration SYNC = Duration.ofMinutes(2);

    private static final ByteArrayOutputStream CAPTURED = new ByteArrayOutputStream();
    private static PrintStream originalErr;
    private static PrintStream originalOut;
    private static Logger pgjdbc;
    private static Level pgjdbcLevel;
    private static Handler pgjdbcCapture;
    private static ch.qos.logback.classic.Level pgmigrateLevel;

    private static EmbeddedPostgresServer source;
    private static EmbeddedPostgresServer target;

    /** Everything pgmigrate returned or threw in the running test, as text. */
    private final List<String> seen = new ArrayList<>();

    @TempDir
    Path state;

    @BeforeAll
    static void captureOutputAndStartServers() {
        originalErr = System.err;
        originalOut = System.out;
        // Logback's console appender writes to whatever System.out is at the time of each call.
        System.setErr(new PrintStream(new Tee(originalErr), true, StandardCharsets.UTF_8));
        System.setOut(new PrintStream(new Tee(originalOut), true, StandardCharsets.UTF_8));
        // pgmigrate's debug lines too, with the MDC values each line carries (logback-test.xml prints them)
        pgmigrateLevel = pgmigrateLogger().getLevel();
        pgmigrateLogger().setLevel(ch.qos.logback.classic.Level.DEBUG);
        pgjdbc = Logger.getLogger("org.postgresql");
        pgjdbcLevel = pgjdbc.getLevel();
        pgjdbc.setLevel(Level.FINE);
        pgjdbcCapture = new Handler() {
            private final SimpleFormatter format = new SimpleFormatter();

            @Override
            public void publish(LogRecord record) {
                byte[] line = format.format(record).getBytes(StandardCharsets.UTF_8);
                synchronized (CAPTURED) {
                    CAPTURED.write(line, 0, line.length);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        pgjdbcCapture.setLevel(Level.ALL);
        pgjdbc.addHandler(pgjdbcCapture);

        CompletableFuture<EmbeddedPostgresServer> s = CompletableFuture.supplyAsync(() -> server(14));
        target = server(18);
        source = s.join();
    }

    /**
     * A server that requires the password and writes its log to files in its data directory: its output through
     * zonky stops reliably reaching SLF4J once pg_ctl has exited, and the server's log is what matters here.
     */
    private static EmbeddedPostgresServer server(int major) {
        return EmbeddedPostgresServer.builder()
                .major(major)
                .superuserPassword(PASSWORD)
                .config("logging_collector", "on")
                .config("log_directory", "log")
                .config("log_connections", "on")
                .config("log_disconnections", "on")
                .start();
    }

    private static ch.qos.logback.classic.Logger pgmigrateLogger() {
        return (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.pgmigrate");
    }

    @AfterAll
    static void stopServersAndRestoreOutput() {
        try {
            if (source != null) {
                source.close();
            }
            if (target != null) {
                target.close();
            }
        } finally {
            pgjdbc.removeHandler(pgjdbcCapture);
            pgjdbc.setLevel(pgjdbcLevel);
            pgmigrateLogger().setLevel(pgmigrateLevel);
            System.setErr(originalErr);
            System.setOut(originalOut);
        }
    }

    @Test
    @Order(1)
    void aFullMigrationNeverShowsThePassword() throws Exception {
        Fixtures.createShop(source, "vault", 2_000);
        try (Migration m = Migration.builder()
                .name("secrets")
                .source(source.endpoint())
                .target(target.endpoint())
                .databases("vault")
                .stateDirectory(state)
                .build()) {
            assertThat(m.config().source().password()).as("the migration has the password to use").contains(PASSWORD);
            see(m, m.config(), m.config().source(), m.config().target(), m.config().sourceAsSeenByTarget(),
                    m.config().targetAsSeenBySource(), m.config().stateStore());

            PreflightReport preflight = m.preflight();
            see(preflight, preflight.toTable());
            m.start();
            seeStateFiles();
            MigrationStatus synced = m.awaitInSync(SYNC);
            MigrationStatus status = m.status();
            VerificationReport verification = m.verify();
            assertThat(verification.matches()).isTrue();
            see(synced, status, verification, verification.mismatches());
            see(m.fence(Side.SOURCE, "vault"), m.sentinel(Side.SOURCE, "vault"), m.sequenceSync(Side.SOURCE, "vault"));

            CutoverReport cutover = m.cutover();
            assertThat(cutover.succeeded()).as(cutover.toText()).isTrue();
            see(cutover, cutover.toText(), m.status());
            seeStateFiles();
            printSubscriptionConninfo(source, "vault", "after cutover, the source's reverse subscription");

            CutoverReport rollback = m.rollback();
            assertThat(rollback.succeeded()).as(rollback.toText()).isTrue();
            see(rollback, rollback.toText(), m.awaitInSync(SYNC));
            seeStateFiles();
            printSubscriptionConninfo(target, "vault", "after rollback, the target's forward subscription");

            m.complete();
            see(m.status(), m);
            seeStateFiles();
        }
        assertPasswordAbsent();
    }

    /**
     * STREAM: the same flow, and the target never stores a credential of the source (the stream runs in this JVM,
     * which holds the password), nor the source one of the target after the cutover.
     */
    @Test
    @Order(1)
    void aFullStreamMigrationNeverShowsThePasswordAndNoServerStoresTheOthersCredentials() throws Exception {
        Fixtures.createShop(source, "vault_stream", 2_000);
        try (Migration m = Migration.builder()
                .name("secrets_stream")
                .engine(io.pgmigrate.Engine.STREAM)
                .source(source.endpoint())
                .target(target.endpoint())
                .databases("vault_stream")
                .stateDirectory(state.resolve("journal-stream"))
                .build()) {
            see(m, m.config(), m.preflight(), m.preflight().toTable());
            m.start();
            seeStateFiles();
            MigrationStatus synced = m.awaitInSync(SYNC);
            VerificationReport verification = m.verify();
            assertThat(verification.matches()).isTrue();
            see(synced, m.status(), verification, m.sentinel(Side.SOURCE, "vault_stream"));
            CutoverReport cutover = m.cutover();
            assertThat(cutover.succeeded()).as(cutover.toText()).isTrue();
            see(cutover, cutover.toText(), m.status(), m.awaitInSync(SYNC));
            for (EmbeddedPostgresServer server : List.of(source, target)) {
                try (Connection c = server.connect("vault_stream"); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_subscription")) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("subscriptions, which would hold a connection string").isZero();
                }
            }
            CutoverReport rollback = m.rollback();
            assertThat(rollback.succeeded()).as(rollback.toText()).isTrue();
            see(rollback, rollback.toText(), m.awaitInSync(SYNC));
            m.complete();
            see(m.status(), m);
            seeStateFiles();
        }
        assertPasswordAbsent();
    }

    @Test
    @Order(2)
    void failuresNeverShowThePassword() throws Exception {
        Endpoint wrongPassword = source.endpoint().password("not-" + PASSWORD_TAIL.toLowerCase());
        int closedPort = Fixtures.refusingPort();
        Endpoint nowhere = Endpoint.of("127.0.0.1", closedPort, null).user("postgres").password(PASSWORD);
        List<Migration> failing = List.of(
                migration(source.endpoint(), target.endpoint(), "no such database"),
                migration(wrongPassword, target.endpoint(), "vault"),
                migration(source.endpoint(), target.endpoint().password("wrong"), "vault"),
                migration(nowhere, target.endpoint(), "vault"));
        for (Migration m : failing) {
            try (m) {
                see(m, m.config());
                see(m.preflight(), m.preflight().toTable());
                PgMigrateException start = catchThrowableOfType(PgMigrateException.class, m::start);
                assertThat(start.code()).isEqualTo(CoreErrorCode.PREFLIGHT_FAILED);
                see(start);
                PgMigrateException verify = catchThrowableOfType(PgMigrateException.class, m::verify);
                assertThat(verify.code()).isIn(CoreErrorCode.DATABASE_MISSING, CoreErrorCode.AUTHENTICATION_FAILED,
                        CoreErrorCode.CONNECTION_FAILED);
                see(verify);
            }
        }
        seeStateFiles();
        assertPasswordAbsent();
        assertThat(serverLogs()).as("the servers' logs are read").contains("password authentication failed",
                "database \"no such database\" does not exist");
    }

    @Test
    @Order(3)
    void aPassfileInsteadOfAPasswordMigrates() throws Exception {
        Fixtures.createShop(source, "vault_passfile", 1_000);
        Path passfile = state.resolve("pgpass");
        Files.write(passfile, List.of(
                "# host:port:database:user:password",
                "127.0.0.1:" + source.port() + ":*:postgres:" + escape(PASSWORD),
                "127.0.0.1:" + target.port() + ":*:postgres:" + escape(PASSWORD)), StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(passfile, PosixFilePermissions.fromString("rw-------"));
        Endpoint src = Endpoint.of("127.0.0.1", source.port(), null).user("postgres").passfile(passfile);
        Endpoint tgt = Endpoint.of("127.0.0.1", target.port(), null).user("postgres").passfile(passfile);

        try (Migration m = Migration.builder()
                .name("passfile")
                .source(src)
                .target(tgt)
                .databases("vault_passfile")
                .stateDirectory(state.resolve("journal"))
                .build()) {
            see(m, m.config());
            PreflightReport preflight = m.preflight();
            assertThat(preflight.hasBlockers()).as(preflight.toTable()).isFalse();
            m.start();
            m.awaitInSync(SYNC);
            VerificationReport v = m.verify();
            assertThat(v.matches()).as(v.mismatches().toString()).isTrue();
            assertThat(Fixtures.fingerprint(target, "vault_passfile", "public.items"))
                    .isEqualTo(Fixtures.fingerprint(source, "vault_passfile", "public.items"));
            see(v, m.status());
            printSubscriptionConninfo(target, "vault_passfile", "with a passfile, the target's subscription");
            m.complete();
        }
        Files.delete(passfile); // it holds the password by design
        seeStateFiles();
        assertPasswordAbsent();
    }

    @Test
    @Order(3)
    void aSubscriberWithItsOwnPassfileGetsNoPasswordInItsSubscription() throws Exception {
        Fixtures.createShop(source, "vault_peer", 1_000);
        Path passfile = state.resolve("subscriber-pgpass");
        Files.write(passfile, List.of("127.0.0.1:" + source.port() + ":*:postgres:" + escape(PASSWORD)),
                StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(passfile, PosixFilePermissions.fromString("rw-------"));
        try (Migration m = Migration.builder()
                .name("peer")
                .source(source.endpoint())
                .target(target.endpoint())
                // How the target reaches the source: a password file on the target's machine, no password here.
                .sourceAsSeenByTarget(Endpoint.of("127.0.0.1", source.port(), null).passfile(passfile))
                .databases("vault_peer")
                .stateDirectory(state.resolve("journal-peer"))
                .build()) {
            see(m, m.config());
            m.start();
            m.awaitInSync(SYNC);
            see(m.status());
            try (Connection c = target.connect("vault_peer"); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT subconninfo FROM pg_subscription WHERE subname = "
                         + "'pgmigrate_peer_vault_peer_sub'")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).doesNotContain(PASSWORD).doesNotContain("password=")
                        .contains("passfile=").contains("user='postgres'");
            }
            m.complete();
        }
        Files.delete(passfile);
        seeStateFiles();
        assertPasswordAbsent();
    }

    /**
     * When CREATE SUBSCRIPTION fails, the server logs the statement (log_min_error_statement = error by default),
     * connection string included. A peer endpoint configured without a password puts none there, so the log holds
     * none; pgmigrate's own message never does. Runs last: it leaves a failed statement in the target's log.
     */
    @Test
    @Order(4)
    void aFailedCreateSubscriptionOfAPeerWithoutPasswordLeavesNoPasswordInTheServersLog() throws Exception {
        Fixtures.createShop(source, "vault_unreachable", 1_000);
        int closedPort = Fixtures.refusingPort();
        try (Migration m = Migration.builder()
                .name("unreachable")
                .source(source.endpoint())
                .target(target.endpoint())
                // No password of its own: none goes into the connection string (the subscriber would use its own
                // password file), so the statement PostgreSQL logs when it fails holds none either.
                .sourceAsSeenByTarget(Endpoint.of("127.0.0.1", closedPort, null).user("postgres"))
                .databases("vault_unreachable")
                .stateDirectory(state)
                .build()) {
            PgMigrateException e = catchThrowableOfType(PgMigrateException.class, m::start);
            assertThat(e.code()).isEqualTo(CoreErrorCode.REPLICATION_FAILED);
            assertThat(e.getMessage()).contains("127.0.0.1:" + closedPort);
            see(e, m);
            seeStateFiles();
            for (String text : seen) {
                assertNoPassword(text, "returned, thrown or stored");
            }
            m.complete();
        }
        assertThat(target.dataDirectory().resolve("log")).as("the target's log").isDirectory();
        assertThat(logsOf(target)).as("PostgreSQL logs the failed statement with its connection string")
                .contains("CREATE SUBSCRIPTION").doesNotContain(PASSWORD);
    }

    private Migration migration(Endpoint source, Endpoint target, String db) {
        return Migration.builder()
                .name("failing")
                .source(source)
                .target(target)
                .databases(db)
                .stateDirectory(state)
                .connectTimeout(Duration.ofSeconds(1))
                .connectAttempts(2)
                .build();
    }

    /** Records the string forms of objects, and of exceptions their message and whole stack trace. */
    private void see(Object... objects) {
        for (Object o : objects) {
            if (o instanceof Throwable t) {
                StringWriter w = new StringWriter();
                t.printStackTrace(new PrintWriter(w));
                seen.add(t.getMessage());
                seen.add(w.toString());
            } else {
                seen.add(String.valueOf(o));
            }
        }
    }

    private void seeStateFiles() throws IOException {
        try (Stream<Path> files = Files.walk(state)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                seen.add(f + ": " + new String(Files.readAllBytes(f), StandardCharsets.UTF_8));
            }
        }
    }

    private void assertPasswordAbsent() {
        assertThat(seen).as("what pgmigrate returned, threw and stored").isNotEmpty();
        for (String text : seen) {
            assertNoPassword(text, "returned, thrown or stored");
        }
        String output;
        synchronized (CAPTURED) {
            output = CAPTURED.toString(StandardCharsets.UTF_8);
        }
        assertThat(output).as("captured output").contains("io.pgmigrate");
        assertNoPassword(output, "log output");
        assertNoPassword(serverLogs(), "the servers' logs");
    }

    private static String serverLogs() {
        return logsOf(source) + logsOf(target);
    }

    private static String logsOf(EmbeddedPostgresServer server) {
        StringBuilder b = new StringBuilder();
        try (Stream<Path> files = Files.walk(server.dataDirectory().resolve("log"))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                b.append(new String(Files.readAllBytes(f), StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read the log of " + server, e);
        }
        return b.toString();
    }

    private static void assertNoPassword(String text, String where) {
        assertThat(text).as(where)
                .doesNotContain(PASSWORD)
                .doesNotContain(PASSWORD_TAIL)
                .doesNotContain(URLEncoder.encode(PASSWORD, StandardCharsets.UTF_8));
    }

    /**
     * PostgreSQL keeps a subscription's connection string in pg_subscription.subconninfo; printed (with the password
     * masked) so the run shows what the server stores, which docs/security.md describes.
     */
    private static void printSubscriptionConninfo(EmbeddedPostgresServer server, String db, String what)
            throws SQLException {
        try (Connection c = server.connect(db); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT subconninfo FROM pg_subscription")) {
            while (rs.next()) {
                String conninfo = rs.getString(1);
                originalOut.println("SecretsIT: " + what + ": subconninfo "
                        + (conninfo.contains(PASSWORD) ? "HOLDS the password" : "holds no password") + ": "
                        + conninfo.replace(PASSWORD, "********"));
            }
        }
    }

    private static String escape(String passfileField) {
        return passfileField.replace("\\", "\\\\").replace(":", "\\:");
    }

    /** Writes to the original stream and to the capture. */
    private static final class Tee extends OutputStream {
        private final OutputStream original;

        Tee(OutputStream original) {
            this.original = original;
        }

        @Override
        public void write(int b) throws IOException {
            original.write(b);
            synchronized (CAPTURED) {
                CAPTURED.write(b);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            original.write(b, off, len);
            synchronized (CAPTURED) {
                CAPTURED.write(b, off, len);
            }
        }

        @Override
        public void flush() throws IOException {
            original.flush();
        }
    }
}
