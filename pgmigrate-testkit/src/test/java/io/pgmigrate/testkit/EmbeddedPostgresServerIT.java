package io.pgmigrate.testkit;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

class EmbeddedPostgresServerIT {

    @Test
    void fourMajorsRunAtOnceInOneJvmAndLeaveNothingBehind() throws Exception {
        List<Integer> majors = List.of(14, 16, 17, 18);
        List<EmbeddedPostgresServer> servers = startAll(majors);
        List<Path> dataDirectories = new ArrayList<>();
        List<Integer> ports = new ArrayList<>();
        try {
            for (int i = 0; i < majors.size(); i++) {
                EmbeddedPostgresServer pg = servers.get(i);
                int major = majors.get(i);
                assertThat(pg.majorVersion()).isEqualTo(major);
                assertThat(Integer.parseInt(show(pg, "server_version_num")) / 10000).isEqualTo(major);
                assertThat(show(pg, "wal_level")).isEqualTo("logical");
                assertThat(show(pg, "max_replication_slots")).isEqualTo("40");
                assertThat(show(pg, "max_wal_senders")).isEqualTo("40");
                assertThat(show(pg, "max_logical_replication_workers")).isEqualTo("30");
                assertThat(show(pg, "max_connections")).isEqualTo("200");
                assertThat(show(pg, "fsync")).isEqualTo("off");
                assertThat(show(pg, "full_page_writes")).isEqualTo("off");
                assertThat(show(pg, "wal_retrieve_retry_interval")).isEqualTo("200ms");
                assertThat(show(pg, "listen_addresses")).isEqualTo("127.0.0.1");
                assertThat(pg.host()).isEqualTo("127.0.0.1");
                assertThat(pg.endpoint().port()).isEqualTo(pg.port());
                assertThat(pg.endpoint().user()).contains("postgres");
                assertThat(pg.endpointForPeers()).isEqualTo(pg.endpoint());
                assertThat(pg.dataDirectory()).isDirectory();
                dataDirectories.add(pg.dataDirectory());
                ports.add(pg.port());
            }
            assertThat(ports).doesNotHaveDuplicates();
        } finally {
            servers.forEach(EmbeddedPostgresServer::close);
        }
        for (int i = 0; i < servers.size(); i++) {
            assertThat(dataDirectories.get(i)).doesNotExist();
            assertThat(canBind(ports.get(i))).as("port %s is free after close", ports.get(i)).isTrue();
            servers.get(i).close(); // a second close does nothing
        }
    }

    /**
     * Two test JVMs can be handed the same free port: the second postmaster cannot bind it, and zonky, which takes a
     * server as started once something on the port answers, would hand back the first JVM's server as its own.
     */
    @Test
    void aServerWhosePortIsTakenByAnotherServerFailsToStartAndLeavesTheOtherAlone() throws Exception {
        try (EmbeddedPostgresServer first = EmbeddedPostgresServer.start(14)) {
            first.createDatabase("firsts_own");
            Throwable e = catchThrowable(() -> EmbeddedPostgresServer.builder().major(14).port(first.port()).start());
            assertThat(e).as("a start that found the port answered by another server")
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("port " + first.port())
                    .hasMessageContaining(first.dataDirectory().getFileName().toString());
            try (Connection c = first.connect("firsts_own"); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT current_setting('data_directory')")) {
                assertThat(rs.next()).isTrue();
                assertThat(Path.of(rs.getString(1)).toRealPath()).as("the first server still runs")
                        .isEqualTo(first.dataDirectory().toRealPath());
            }
        }
    }

    @Test
    void builderSettingsOverrideDefaultsAndReachTheServerVerbatim() throws Exception {
        String prefix = "%m [%p] it's \\ $(touch /tmp/pgmigrate-should-not-exist); ok ";
        try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.builder()
                .major(16)
                .config("Wal_Level", "replica")
                .config("max_connections", "50")
                .config("log_line_prefix", prefix)
                .start()) {
            assertThat(show(pg, "wal_level")).isEqualTo("replica");
            assertThat(show(pg, "max_connections")).isEqualTo("50");
            assertThat(show(pg, "log_line_prefix")).isEqualTo(prefix);
            assertThat(show(pg, "max_replication_slots")).isEqualTo("40");
        }
        assertThat(Path.of("/tmp/pgmigrate-should-not-exist")).doesNotExist();
    }

    @Test
    void aSuperuserPasswordIsRequiredFromEveryTcpClientAndCarriedByTheEndpointOnly() throws Exception {
        String password = "it's a \"secret\" Ω";
        try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.builder().major(16).superuserPassword(password)
                .start()) {
            assertThat(pg.endpoint().password()).contains(password);
            assertThat(show(pg, "server_version_num")).startsWith("16");
            assertThat(pg.toString()).doesNotContain(password);
            assertThat(pg.jdbcUrl("postgres")).doesNotContain("password");
            assertThat(loginState(pg, null)).as("without a password").isIn("08004", "28P01");
            assertThat(loginState(pg, "wrong")).as("with a wrong password").isEqualTo("28P01");
            assertThat(loginState(pg, password)).as("with the password").isEqualTo("ok");
            Properties replication = new Properties();
            replication.setProperty("user", "postgres");
            replication.setProperty("replication", "database");
            replication.setProperty("assumeMinServerVersion", "10");
            replication.setProperty("preferQueryMode", "simple");
            try (Connection c = new org.postgresql.Driver().connect(pg.endpoint().jdbcUrl("postgres"), replication)) {
                throw new AssertionError("a replication connection without a password was let in");
            } catch (SQLException e) {
                assertThat(e.getSQLState()).isIn("08004", "28P01");
            }
        }
    }

    @Test
    void withoutASuperuserPasswordLocalClientsAreTrustedAsBefore() throws Exception {
        try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.start(14)) {
            assertThat(pg.endpoint().password()).isEmpty();
            assertThat(loginState(pg, null)).isEqualTo("ok");
        }
    }

    /** "ok", or the SQLSTATE of logging in as the superuser with {@code password}. */
    private static String loginState(EmbeddedPostgresServer pg, String password) {
        Properties p = new Properties();
        p.setProperty("user", "postgres");
        if (password != null) {
            p.setProperty("password", password);
        }
        try (Connection c = new org.postgresql.Driver().connect(pg.endpoint().jdbcUrl("postgres"), p)) {
            return "ok";
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    private static List<EmbeddedPostgresServer> startAll(List<Integer> majors) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(majors.size());
        List<Future<EmbeddedPostgresServer>> starts = new ArrayList<>();
        for (int major : majors) {
            starts.add(pool.submit(() -> EmbeddedPostgresServer.start(major)));
        }
        pool.shutdown();
        List<EmbeddedPostgresServer> started = new ArrayList<>();
        Exception failure = null;
        for (Future<EmbeddedPostgresServer> f : starts) {
            try {
                started.add(f.get(5, TimeUnit.MINUTES));
            } catch (ExecutionException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            started.forEach(EmbeddedPostgresServer::close);
            throw failure;
        }
        return started;
    }

    static String show(PostgresServer pg, String setting) throws SQLException {
        try (Connection c = pg.connect("postgres"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SHOW " + setting)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static boolean canBind(int port) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port));
            return true;
        } catch (java.net.BindException e) {
            return false;
        }
    }
}
