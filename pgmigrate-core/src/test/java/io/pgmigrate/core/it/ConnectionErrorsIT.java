package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Finding;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * Bad endpoints against real servers that require passwords: each failure has its own code, names the endpoint and
 * database but never a password, is retried only when retrying can help, and is bounded by the connect timeout.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ConnectionErrorsIT {

    private static final String PASSWORD = "S3cr3t-pgm-Ω-errors-41c7";
    private static final String WRONG_PASSWORD = "Wr0ng-pgm-Ω-9d2e";
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final int ATTEMPTS = 3;

    private static EmbeddedPostgresServer source;
    private static EmbeddedPostgresServer target;

    @TempDir
    Path state;

    @BeforeAll
    static void startServers() {
        CompletableFuture<EmbeddedPostgresServer> s = CompletableFuture.supplyAsync(
                () -> EmbeddedPostgresServer.builder().major(14).superuserPassword(PASSWORD).start());
        target = EmbeddedPostgresServer.builder().major(18).superuserPassword(PASSWORD).start();
        source = s.join();
        source.createDatabase("shop");
    }

    @AfterAll
    static void stopServers() {
        if (source != null) {
            source.close();
        }
        if (target != null) {
            target.close();
        }
    }

    @Test
    void nothingListeningOnThePortIsRetriedThenFailsNamingHostAndPort() throws Exception {
        int port = Fixtures.refusingPort();
        Endpoint nowhere = Endpoint.of("127.0.0.1", port, null).user("postgres").password(PASSWORD);
        try (Migration m = migration(nowhere, target.endpoint(), "shop")) {
            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(message).contains("[CONNECTION_FAILED]", "127.0.0.1:" + port + "/shop",
                    "after " + ATTEMPTS + " attempts", "nothing accepts connections on port " + port);
            assertNoPassword(message);

            PgMigrateException direct = directFailure(m);
            assertThat(direct.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
            assertThat(direct.isTransient()).isTrue();
            assertThat(direct.sqlState()).contains("08001");
        }
    }

    @Test
    void aHostNameThatDoesNotResolveFailsAtOnce() throws Exception {
        Endpoint unknown = Endpoint.of("no-such-host.invalid", 5432, null).user("postgres").password(PASSWORD);
        try (Migration m = migration(unknown, target.endpoint(), "shop")) {
            long started = System.nanoTime();
            PgMigrateException direct = directFailure(m);
            Duration took = Duration.ofNanos(System.nanoTime() - started);

            assertThat(direct.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
            assertThat(direct.isTransient()).as("a name that does not resolve will not resolve on retry").isFalse();
            assertThat(direct.getMessage()).contains("no-such-host.invalid:5432/shop", "does not resolve")
                    .doesNotContain("attempts").doesNotContain("attempt 1 of");
            assertNoPassword(direct.getMessage());
            assertThat(took).as("no backoff was waited").isLessThan(Duration.ofMillis(200 + 2_000));

            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(message).contains("[CONNECTION_FAILED]", "no-such-host.invalid:5432/shop");
            assertNoPassword(message);
        }
    }

    @Test
    void aWrongPasswordIsTriedOnceAndFailsWithAuthenticationFailed() throws Exception {
        try (TcpStub counting = TcpStub.forwarding(source.host(), source.port());
             Migration m = migration(Endpoint.of("127.0.0.1", counting.port(), null).user("postgres")
                     .password(WRONG_PASSWORD), target.endpoint(), "shop")) {
            PreflightReport report = m.preflight();
            assertThat(counting.accepted()).as("connections preflight opened").isEqualTo(1);
            Finding blocker = report.blockers().get(0);
            assertThat(blocker.check()).isEqualTo("source_connection");
            assertThat(blocker.message()).contains("[AUTHENTICATION_FAILED]", "127.0.0.1:" + counting.port() + "/shop",
                    "check the user and password");
            assertNoPassword(report.toTable());

            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(counting.accepted()).as("connections after start()").isEqualTo(2);
            assertThat(message).contains("[AUTHENTICATION_FAILED]").doesNotContain("attempts");
            assertNoPassword(message);

            PgMigrateException direct = directFailure(m);
            assertThat(counting.accepted()).as("connections after verify()").isEqualTo(3);
            assertThat(direct.code()).isEqualTo(CoreErrorCode.AUTHENTICATION_FAILED);
            assertThat(direct.sqlState()).contains("28P01");
            assertThat(direct.isTransient()).isFalse();
            assertNoPassword(direct.getMessage());
            assertNoPassword(stackTrace(direct));
        }
    }

    @Test
    void noPasswordForAServerThatWantsOneSaysHowToGiveIt() throws Exception {
        try (TcpStub counting = TcpStub.forwarding(source.host(), source.port());
             Migration m = migration(Endpoint.of("127.0.0.1", counting.port(), null).user("postgres"),
                     target.endpoint(), "shop")) {
            PgMigrateException direct = directFailure(m);
            assertThat(counting.accepted()).isEqualTo(1);
            assertThat(direct.code()).isEqualTo(CoreErrorCode.AUTHENTICATION_FAILED);
            assertThat(direct.isTransient()).isFalse();
            assertThat(direct.getMessage()).contains("127.0.0.1:" + counting.port() + "/shop",
                    "none was given", "password(...)", "passfile(...)");
        }
    }

    @Test
    void aMissingDatabaseIsTriedOnceAndFailsWithDatabaseMissing() throws Exception {
        String db = "no such database";
        try (TcpStub counting = TcpStub.forwarding(source.host(), source.port());
             Migration m = migration(Endpoint.of("127.0.0.1", counting.port(), null).user("postgres")
                     .password(PASSWORD), target.endpoint(), db)) {
            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(counting.accepted()).isEqualTo(1);
            assertThat(message).contains("[DATABASE_MISSING]", "database \"" + db + "\"",
                    "127.0.0.1:" + counting.port() + "/" + db, "check the database name");
            assertNoPassword(message);

            PgMigrateException direct = directFailure(m);
            assertThat(counting.accepted()).isEqualTo(2);
            assertThat(direct.code()).isEqualTo(CoreErrorCode.DATABASE_MISSING);
            assertThat(direct.database()).contains(db);
            assertThat(direct.sqlState()).contains("3D000");
            assertNoPassword(stackTrace(direct));
        }
    }

    @Test
    void sslRequiredAgainstAServerWithoutSslIsTriedOnceAndSaysSo() throws Exception {
        try (TcpStub counting = TcpStub.forwarding(source.host(), source.port());
             Migration m = migration(Endpoint.of("127.0.0.1", counting.port(), null).user("postgres")
                     .password(PASSWORD).property("sslmode", "require"), target.endpoint(), "shop")) {
            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(counting.accepted()).isEqualTo(1);
            assertThat(message).contains("[CONNECTION_FAILED]", "127.0.0.1:" + counting.port() + "/shop",
                    "sslmode (require)").doesNotContain("attempts");
            assertNoPassword(message);

            PgMigrateException direct = directFailure(m);
            assertThat(direct.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
            assertThat(direct.isTransient()).isFalse();
        }
    }

    @Test
    void aServerThatAcceptsAndNeverAnswersIsBoundedByTheConnectTimeoutOnEachAttempt() throws Exception {
        // sslmode=disable: with the default (prefer) pgjdbc may open a second connection without SSL within one
        // attempt, which would blur the count. ConnectorTest shows the bound holds with prefer too.
        try (TcpStub silent = TcpStub.silent();
             Migration m = migration(Endpoint.of("127.0.0.1", silent.port(), null).user("postgres")
                     .password(PASSWORD).property("sslmode", "disable"), target.endpoint(), "shop")) {
            long started = System.nanoTime();
            String message = startFailsWithBlocker(m, "source_connection");
            Duration took = Duration.ofNanos(System.nanoTime() - started);

            assertThat(silent.accepted()).as("attempts").isEqualTo(ATTEMPTS);
            assertThat(message).contains("[CONNECTION_FAILED]", "127.0.0.1:" + silent.port() + "/shop",
                    "after " + ATTEMPTS + " attempts", "no answer within the connect timeout of 2 s");
            assertNoPassword(message);
            // Three attempts of 2 s each and backoffs of 0.2 s and 0.4 s, with room for a slow machine.
            assertThat(took).isBetween(CONNECT_TIMEOUT.multipliedBy(ATTEMPTS).minusMillis(500), Duration.ofSeconds(12));
        }
    }

    @Test
    void aServerThatClosesTheConnectionAtOnceIsRetriedThenFails() throws Exception {
        try (TcpStub closing = TcpStub.closing();
             Migration m = migration(Endpoint.of("127.0.0.1", closing.port(), null).user("postgres")
                     .password(PASSWORD).property("sslmode", "disable"), target.endpoint(), "shop")) {
            String message = startFailsWithBlocker(m, "source_connection");
            assertThat(closing.accepted()).as("attempts").isEqualTo(ATTEMPTS);
            assertThat(message).contains("[CONNECTION_FAILED]", "127.0.0.1:" + closing.port() + "/shop",
                    "after " + ATTEMPTS + " attempts", "closed the connection");
            assertNoPassword(message);
        }
    }

    @Test
    void aWrongTargetPasswordIsReportedForTheTarget() throws Exception {
        Endpoint wrongTarget = target.endpoint().password(WRONG_PASSWORD);
        try (Migration m = migration(source.endpoint(), wrongTarget, "shop")) {
            PreflightReport report = m.preflight();
            assertThat(report.blockers()).singleElement().satisfies(f -> {
                assertThat(f.check()).isEqualTo("target_connection");
                assertThat(f.message()).contains("[AUTHENTICATION_FAILED]", "target",
                        "127.0.0.1:" + target.port() + "/postgres");
            });
            assertNoPassword(report.toTable());
            assertNoPassword(m.toString());
        }
    }

    private Migration migration(Endpoint source, Endpoint target, String db) {
        return Migration.builder()
                .name("errors")
                .source(source)
                .target(target)
                .databases(db)
                .stateDirectory(state)
                .connectTimeout(CONNECT_TIMEOUT)
                .connectAttempts(ATTEMPTS)
                .build();
    }

    /** start() refuses with PREFLIGHT_FAILED and a table whose first blocker is {@code check}; its message. */
    private static String startFailsWithBlocker(Migration m, String check) {
        PgMigrateException e = catchThrowableOfType(PgMigrateException.class, m::start);
        assertThat(e).as("start() fails").isNotNull();
        assertThat(e.code()).isEqualTo(CoreErrorCode.PREFLIGHT_FAILED);
        assertThat(e.getMessage()).contains("BLOCKER", check, "nothing was changed");
        assertThat(e.getCause()).as("the connection failure itself, with its own code")
                .isInstanceOfSatisfying(PgMigrateException.class, c -> assertThat(c.code())
                        .isIn(CoreErrorCode.CONNECTION_FAILED, CoreErrorCode.AUTHENTICATION_FAILED, CoreErrorCode.DATABASE_MISSING,
                                CoreErrorCode.PERMISSION_DENIED));
        return e.getMessage();
    }

    /** verify() of a migration never started connects straight away: the connection failure as it was thrown. */
    private static PgMigrateException directFailure(Migration m) {
        Throwable t = catchThrowable(m::verify);
        assertThat(t).isInstanceOf(PgMigrateException.class);
        return (PgMigrateException) t;
    }

    private static void assertNoPassword(String text) {
        assertThat(text).doesNotContain(PASSWORD).doesNotContain(WRONG_PASSWORD);
    }

    private static String stackTrace(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

}
