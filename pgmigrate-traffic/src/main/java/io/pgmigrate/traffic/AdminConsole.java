package io.pgmigrate.traffic;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * PgBouncer's admin console, through {@code psql}. pgjdbc cannot log in to it: after authenticating it sends {@code SET
 * extra_float_digits}, which the console refuses ({@code ERROR: SET failed}). psql sends nothing but the commands. The
 * password goes in the environment ({@code PGPASSWORD}), never on a command line.
 */
final class AdminConsole {

    /** A command the console (or psql) refused; the message is psql's error output. */
    static final class AdminException extends Exception {
        AdminException(String message) {
            super(message);
        }
    }

    private static final char SEPARATOR = '\u001f';

    private final String psql;
    private final String conninfo;
    private final String password;

    AdminConsole(String psql, String host, int port, String user, String password, Duration connectTimeout) {
        this.psql = psql;
        StringBuilder c = new StringBuilder("host=").append(value(host)).append(" port=").append(port)
                .append(" dbname=pgbouncer connect_timeout=").append(Math.max(2, connectTimeout.toSeconds()))
                .append(" application_name=pgmigrate");
        if (user != null) {
            c.append(" user=").append(value(user));
        }
        this.conninfo = c.toString();
        this.password = password;
    }

    /** Runs {@code commands}, stopping at the first error, and returns the rows of the last one's result. */
    List<Map<String, String>> run(Duration timeout, String... commands) throws AdminException, InterruptedException {
        Process p = start(true, commands);
        return rows(finish(p, timeout));
    }

    /**
     * Runs every command even when some fail, and returns psql's error lines (one per refused command, such as
     * {@code ERROR:  database shop is not paused}).
     */
    List<String> runAll(Duration timeout, String... commands) throws AdminException, InterruptedException {
        Process p = start(false, commands);
        Output out = collect(p, timeout);
        List<String> errors = new ArrayList<>();
        for (String line : out.err.split("\n")) {
            if (!line.isBlank()) {
                errors.add(line.strip());
            }
        }
        if (out.exit != 0 && errors.isEmpty()) {
            throw new AdminException("psql exited with " + out.exit);
        }
        return errors;
    }

    /** Starts {@code commands}; {@link #finish(Process, Duration)} waits for them. */
    Process start(boolean stopOnError, String... commands) throws AdminException {
        // -w: never ask for a password (psql would wait on a terminal until the timeout, reported as the wrong cause)
        List<String> cmd = new ArrayList<>(List.of(psql, "-X", "-w", "-q", "-A", "-P", "footer=off", "-F",
                String.valueOf(SEPARATOR), "-v", "ON_ERROR_STOP=" + (stopOnError ? 1 : 0), "-d", conninfo));
        for (String command : commands) {
            cmd.add("-c");
            cmd.add(command);
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        // libpq's environment (PGOPTIONS, PGSSLMODE, PGSERVICE, PGPASSWORD, ...) is the caller's, not the console's
        pb.environment().keySet().removeIf(k -> k.startsWith("PG"));
        if (password != null) {
            pb.environment().put("PGPASSWORD", password);
        }
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            return p;
        } catch (IOException e) {
            throw new AdminException("cannot run " + psql + " (the PostgreSQL client, package postgresql-client, talks"
                    + " to PgBouncer's admin console; install it or name it with psql(Path)): " + e.getMessage());
        }
    }

    /** Waits for {@code p}, bounded; its standard output, or an exception with its error output. */
    String finish(Process p, Duration timeout) throws AdminException, InterruptedException {
        Output out = collect(p, timeout);
        if (out.exit != 0) {
            String err = out.err.strip();
            throw new AdminException(err.isEmpty() ? "psql exited with " + out.exit : err.replace('\n', ' '));
        }
        return out.out;
    }

    private record Output(int exit, String out, String err) {
    }

    private static Output collect(Process p, Duration timeout) throws AdminException, InterruptedException {
        CompletableFuture<String> out = read(p.getInputStream());
        CompletableFuture<String> err = read(p.getErrorStream());
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
            throw new AdminException("no answer within " + timeout.toMillis() + " ms");
        }
        return new Output(p.exitValue(), out.join(), err.join());
    }

    /** Reads a stream to its end on a thread of its own (not a shared pool, where blocking reads could queue). */
    private static CompletableFuture<String> read(InputStream in) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (in) {
                f.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                f.complete("");
            }
        }, "pgmigrate-psql-output");
        t.setDaemon(true);
        t.start();
        return f;
    }

    /** Rows of psql's unaligned output with its header line, by column name. */
    private static List<Map<String, String>> rows(String output) {
        List<Map<String, String>> rows = new ArrayList<>();
        String[] lines = output.split("\n");
        if (lines.length == 0 || lines[0].isEmpty()) {
            return rows;
        }
        String[] header = lines[0].split(String.valueOf(SEPARATOR), -1);
        for (int i = 1; i < lines.length; i++) {
            String[] fields = lines[i].split(String.valueOf(SEPARATOR), -1);
            Map<String, String> row = new LinkedHashMap<>();
            for (int j = 0; j < header.length && j < fields.length; j++) {
                row.put(header[j], fields[j]);
            }
            rows.add(row);
        }
        return rows;
    }

    /** A conninfo value, quoted. */
    private static String value(String v) {
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }
}
