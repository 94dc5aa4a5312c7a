package io.pgmigrate.core.internal.sql;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.PgMigrateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

class ConnectorTest {

    private static final String PASSWORD = "S3cr3t-connector-Ω";
    private static final Endpoint ENDPOINT = Endpoint.of("db.example", 6543, null).user("migrator").password(PASSWORD);

    private final Connector connector = new Connector(ENDPOINT, "source", Duration.ofSeconds(2), 3);

    @Test
    void aRejectedPasswordIsAnAuthenticationFailureThatIsNotRetried() {
        PgMigrateException e = classify(new SQLException("FATAL: password authentication failed for user \"migrator\"",
                "28P01"));
        assertThat(e.code()).isEqualTo(CoreErrorCode.AUTHENTICATION_FAILED);
        assertThat(e.isTransient()).isFalse();
        assertThat(e.getMessage()).contains("source postgresql://migrator@db.example:6543/shop",
                "check the user and password").doesNotContain(PASSWORD);
    }

    @Test
    void aPgHbaRejectionIsAnAuthenticationFailure() {
        PgMigrateException e = classify(new SQLException("FATAL: no pg_hba.conf entry for host", "28000"));
        assertThat(e.code()).isEqualTo(CoreErrorCode.AUTHENTICATION_FAILED);
        assertThat(e.getMessage()).contains("pg_hba.conf");
    }

    @Test
    void aMissingDatabaseIsNotRetried() {
        PgMigrateException e = classify(new SQLException("FATAL: database \"shop\" does not exist", "3D000"));
        assertThat(e.code()).isEqualTo(CoreErrorCode.DATABASE_MISSING);
        assertThat(e.database()).contains("shop");
        assertThat(e.isTransient()).isFalse();
    }

    @Test
    void aServerAskingForAPasswordNoneWasGivenForIsAnAuthenticationFailure() {
        PgMigrateException e = classify(new SQLException(
                "The server requested SCRAM-based authentication, but no password was provided.", "08004"));
        assertThat(e.code()).isEqualTo(CoreErrorCode.AUTHENTICATION_FAILED);
        assertThat(e.isTransient()).isFalse();
    }

    @Test
    void aServerWithoutSslWhenSslIsRequiredIsNotRetried() {
        Connector ssl = new Connector(ENDPOINT.property("sslmode", "verify-full"), "target", Duration.ofSeconds(2), 3);
        PgMigrateException e = ssl.classify("postgres", new SQLException("The server does not support SSL.", "08004"),
                1, false);
        assertThat(e.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
        assertThat(e.isTransient()).isFalse();
        assertThat(e.getMessage()).contains("target postgresql://migrator@db.example:6543/postgres",
                "sslmode (verify-full)");
    }

    @Test
    void aHostThatDoesNotResolveIsNotRetried() {
        PgMigrateException e = classify(new SQLException("The connection attempt failed.", "08001",
                new UnknownHostException("db.example")));
        assertThat(e.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
        assertThat(e.isTransient()).isFalse();
        assertThat(e.getMessage()).contains("db.example does not resolve");
    }

    @Test
    void aDroppedConnectionIsTransientAndSaysWhichAttemptFailed() {
        SQLException dropped = new SQLException("The connection attempt failed.", "08001", new EOFException());
        PgMigrateException first = connector.classify("shop", dropped, 1, false);
        PgMigrateException last = connector.classify("shop", dropped, 3, false);
        assertThat(first.isTransient()).isTrue();
        assertThat(first.getMessage()).contains("(attempt 1 of 3)", "closed the connection");
        assertThat(last.getMessage()).contains("after 3 attempts");
    }

    @Test
    void aServerStartingUpOrFullIsTransient() {
        assertThat(classify(new SQLException("FATAL: the database system is starting up", "57P03")).isTransient())
                .isTrue();
        assertThat(classify(new SQLException("FATAL: sorry, too many clients already", "53300")).isTransient())
                .isTrue();
    }

    @Test
    void aSilentServerIsGivenUpOnWithinTheConnectTimeoutEvenWithSslPreferred() throws Exception {
        try (Silent silent = new Silent()) {
            Connector c = new Connector(Endpoint.of("127.0.0.1", silent.port(), null).user("u").password(PASSWORD),
                    "source", Duration.ofSeconds(1), 2);
            long started = System.nanoTime();
            PgMigrateException e = catchThrowableOfType(PgMigrateException.class, () -> c.connect("shop"));
            Duration took = Duration.ofNanos(System.nanoTime() - started);
            assertThat(e.code()).isEqualTo(CoreErrorCode.CONNECTION_FAILED);
            assertThat(e.getMessage()).contains("127.0.0.1:" + silent.port() + "/shop", "after 2 attempts",
                    "no answer within the connect timeout of 1 s").doesNotContain(PASSWORD);
            // Two attempts of 1 s and one backoff of 0.2 s; pgjdbc alone would take 2 s per attempt with prefer.
            assertThat(took).isBetween(Duration.ofMillis(1_900), Duration.ofMillis(3_500));
            assertThat(silent.accepted()).isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    void anUnreadablePassfileIsAConfigurationErrorNamingTheFileNotRetried(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-passfile");
        Connector c = new Connector(Endpoint.of("127.0.0.1", 1, null).user("u").passfile(missing), "source",
                Duration.ofSeconds(1), 3);
        PgMigrateException e = catchThrowableOfType(PgMigrateException.class, () -> c.connect("shop"));
        assertThat(e.code()).isEqualTo(CoreErrorCode.INVALID_CONFIGURATION);
        assertThat(e.isTransient()).isFalse();
        assertThat(e.getMessage()).contains(missing.toString());
    }

    private PgMigrateException classify(SQLException e) {
        return connector.classify("shop", e, 1, false);
    }

    /** Accepts connections and never answers. */
    private static final class Silent implements AutoCloseable {
        private final ServerSocket listener = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        private final List<Socket> open = new ArrayList<>();
        private final AtomicInteger accepted = new AtomicInteger();

        Silent() throws IOException {
            Thread t = new Thread(() -> {
                try {
                    while (true) {
                        Socket s = listener.accept();
                        synchronized (open) {
                            open.add(s);
                        }
                        accepted.incrementAndGet();
                    }
                } catch (IOException e) {
                    // closed
                }
            }, "silent-server");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return listener.getLocalPort();
        }

        int accepted() {
            return accepted.get();
        }

        @Override
        public void close() throws IOException {
            listener.close();
            synchronized (open) {
                for (Socket s : open) {
                    s.close();
                }
            }
        }
    }
}
