package io.pgmigrate.traffic;

import org.junit.jupiter.api.Assumptions;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * A real PgBouncer (the Debian package {@code pgbouncer}, which {@code .ci/run} installs) for the tests, in transaction
 * pooling, trusting 127.0.0.1, with the migrated databases in a file its {@code pgbouncer.ini} {@code %include}s.
 * Tests skip, saying so, where it is not installed. PgBouncer refuses to run as root, so as root it runs in a user
 * namespace of its own ({@code unshare -U}), as the embedded PostgreSQL servers do.
 */
final class PgBouncer implements AutoCloseable {

    private final Process process;
    private final int port;
    private final Path log;

    private PgBouncer(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    static void assumeInstalled() {
        Assumptions.assumeTrue(binary() != null, "PgBouncer is not installed (apt-get install pgbouncer; .ci/run does)");
        Assumptions.assumeTrue(onPath("psql") != null, "psql is not installed (apt-get install postgresql-client;"
                + " .ci/run does)");
    }

    /** Starts PgBouncer with {@code databasesFile} (which must exist) included, and waits until it accepts clients. */
    static PgBouncer start(Path dir, Path databasesFile, int port) throws IOException, InterruptedException {
        assumeInstalled();
        Path ini = dir.resolve("pgbouncer.ini");
        Path users = dir.resolve("userlist.txt");
        Path log = dir.resolve("pgbouncer.log");
        Files.writeString(users, "\"postgres\" \"\"\n");
        Files.writeString(ini, String.join("\n",
                "%include " + databasesFile.toAbsolutePath(),
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                "listen_port = " + port,
                "unix_socket_dir =",
                "auth_type = trust",
                "auth_file = " + users.toAbsolutePath(),
                "admin_users = postgres",
                "pool_mode = transaction",
                "default_pool_size = 20",
                "max_client_conn = 200",
                "ignore_startup_parameters = extra_float_digits",
                "logfile = " + log.toAbsolutePath(),
                ""));
        List<String> command = new ArrayList<>();
        if ("root".equals(System.getProperty("user.name"))) {
            command.addAll(List.of("unshare", "-U"));
        }
        command.add(binary());
        command.add(ini.toAbsolutePath().toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("pgbouncer.out").toFile()).start();
        PgBouncer b = new PgBouncer(p, port, log);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return b;
            } catch (IOException notYet) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    b.close();
                    throw new IllegalStateException("PgBouncer did not start: " + b.logTail() + " "
                            + Files.readString(dir.resolve("pgbouncer.out")));
                }
                Thread.onSpinWait();
                p.waitFor(20, java.util.concurrent.TimeUnit.MILLISECONDS);
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    int port() {
        return port;
    }

    /** A client connection through PgBouncer, as an application in transaction pooling makes it. */
    Connection connect(String db) throws SQLException {
        return connect(db, "pgmigrate-test");
    }

    /** A client connection that PgBouncer's {@code SHOW CLIENTS} lists under {@code applicationName}. */
    Connection connect(String db, String applicationName) throws SQLException {
        Properties props = new Properties();
        props.setProperty("ApplicationName", applicationName);
        props.setProperty("user", "postgres");
        props.setProperty("prepareThreshold", "0"); // no named server-side statements through transaction pooling
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "120");
        return new org.postgresql.Driver().connect(clientUrl(db), props);
    }

    String clientUrl(String db) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + db;
    }

    /** Whether PgBouncer reports {@code db} paused (or a PAUSE of it pending). */
    boolean paused(String db) throws SQLException {
        return adminInt("SHOW DATABASES", "name", db, "paused") != 0;
    }

    /** How many clients of {@code db} wait for a server connection. */
    /** The state {@code SHOW CLIENTS} gives the one client connected as {@code applicationName}. */
    String clientState(String applicationName) throws SQLException {
        List<String> states = new ArrayList<>();
        for (java.util.Map<String, String> row : admin("SHOW CLIENTS")) {
            if (applicationName.equals(row.get("application_name"))) {
                states.add(row.get("state"));
            }
        }
        if (states.size() != 1) {
            throw new IllegalStateException("SHOW CLIENTS lists " + states.size() + " clients named " + applicationName);
        }
        return states.get(0);
    }

    private List<java.util.Map<String, String>> admin(String command) throws SQLException {
        try {
            AdminConsole console = new AdminConsole("psql", "127.0.0.1", port, "postgres", null, Duration.ofSeconds(10));
            return console.run(Duration.ofSeconds(30), command);
        } catch (AdminConsole.AdminException e) {
            throw new SQLException(command + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException("interrupted");
        }
    }

    private int adminInt(String command, String keyColumn, String key, String column) throws SQLException {
        int sum = 0;
        boolean found = false;
        for (java.util.Map<String, String> row : admin(command)) {
            if (key.equals(row.get(keyColumn))) {
                sum += Integer.parseInt(row.get(column));
                found = true;
            }
        }
        if (!found) {
            throw new IllegalStateException("PgBouncer's " + command + " has no " + key);
        }
        return sum;
    }

    String logTail() {
        try {
            List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String binary() {
        return onPath("pgbouncer");
    }

    private static String onPath(String name) {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + File.pathSeparator + "/usr/sbin").split(
                File.pathSeparator)) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }
}
