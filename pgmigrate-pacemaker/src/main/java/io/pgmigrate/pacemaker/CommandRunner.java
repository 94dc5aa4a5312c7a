package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Runs the cluster's command-line tools ({@code crm_resource}, {@code cibadmin}, {@code crm_attribute}): arguments as a
 * list, never through a shell; output captured; a non-zero exit or a timeout becomes an exception that names the
 * command, the exit code and what it printed. A prefix runs every command somewhere else, for example on a cluster
 * node in a network namespace ({@code nsenter -t PID -n -m -u}) or as another user ({@code sudo -u hacluster}). The
 * prefix must pass the arguments on unchanged: {@code ssh} joins them into one line that the remote shell parses
 * again, which breaks the XPath and XML arguments these classes pass.
 */
public final class CommandRunner {

    /** What a command printed and how it ended. */
    public record Result(int exitCode, String stdout, String stderr) {

        /** stdout without surrounding whitespace. */
        public String out() {
            return stdout.strip();
        }
    }

    /** Threads that feed and drain the commands' pipes: blocking work, kept off the common pool. */
    private static final java.util.concurrent.ExecutorService PIPES = java.util.concurrent.Executors.newCachedThreadPool(
            r -> {
                Thread t = new Thread(r, "pgmigrate-command-pipe");
                t.setDaemon(true);
                return t;
            });

    private final List<String> prefix;
    private final Duration timeout;

    private CommandRunner(List<String> prefix, Duration timeout) {
        this.prefix = List.copyOf(prefix);
        this.timeout = timeout;
    }

    /** Runs commands on this host, each bounded by 30 s. */
    public static CommandRunner local() {
        return new CommandRunner(List.of(), Duration.ofSeconds(30));
    }

    /** Runs every command as {@code prefix + command}, for example {@code List.of("sudo", "-u", "hacluster")}. */
    public CommandRunner withPrefix(List<String> prefix) {
        List<String> p = new ArrayList<>(this.prefix);
        p.addAll(prefix);
        return new CommandRunner(p, timeout);
    }

    /** Bounds every command by {@code timeout}. */
    public CommandRunner withTimeout(Duration timeout) {
        return new CommandRunner(prefix, timeout);
    }

    /** Runs {@code command}; throws unless it exits with 0. */
    public Result run(String... command) {
        return run(List.of(command));
    }

    /** Runs {@code command}; throws unless it exits with 0. */
    public Result run(List<String> command) {
        Result r = attempt(command);
        if (r.exitCode() != 0) {
            throw failure(command, r);
        }
        return r;
    }

    /**
     * Runs {@code command}; throws unless it exits with 0 or one of {@code alsoAccepted} (for example 105, the
     * Pacemaker tools' "no such object", where absence is an answer).
     */
    public Result runAccepting(List<String> command, int... alsoAccepted) {
        Result r = attempt(command);
        if (r.exitCode() != 0 && java.util.Arrays.stream(alsoAccepted).noneMatch(c -> c == r.exitCode())) {
            throw failure(command, r);
        }
        return r;
    }

    /** Runs {@code command} and returns how it ended, whatever the exit code; throws only when it cannot run. */
    public Result attempt(List<String> command) {
        return attempt(command, null);
    }

    /**
     * Runs {@code command} with {@code input} on its standard input (nothing when null) and returns how it ended,
     * whatever the exit code; throws only when it cannot run. Input that may be large or secret goes here rather than
     * on the command line: one argument is limited to 128 KiB on Linux, and a command line is visible to every user.
     */
    public Result attempt(List<String> command, String input) {
        List<String> full = new ArrayList<>(prefix);
        full.addAll(command);
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(full);
            if (input == null) {
                pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            }
            p = pb.start();
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, null, "cannot run " + full.get(0) + ": "
                    + e.getMessage() + " (is Pacemaker installed, and " + full.get(0) + " on the PATH?)", e);
        }
        CompletableFuture<Void> written = input == null ? CompletableFuture.completedFuture(null)
                : CompletableFuture.runAsync(() -> {
                    try (var in = p.getOutputStream()) {
                        in.write(input.getBytes(StandardCharsets.UTF_8));
                    } catch (IOException e) {
                        // the command ended without reading it all: its exit code and stderr say why
                    }
                }, PIPES);
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()), PIPES);
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()), PIPES);
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                // a prefix (sudo, nsenter) runs the command as a child of its own, which holds the pipes too
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new PgMigrateException(CoreErrorCode.TIMEOUT, String.join(" ", full) + " did not finish within "
                        + timeout.toMillis() + " ms");
            }
            written.get();
            return new Result(p.exitValue(), out.get(), err.get());
        } catch (InterruptedException e) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, null, "interrupted while " + String.join(" ", full)
                    + " ran", e);
        } catch (ExecutionException e) {
            throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, null, "cannot read the output of "
                    + String.join(" ", full), e.getCause());
        }
    }

    private PgMigrateException failure(List<String> command, Result r) {
        String said = (r.stderr().strip() + " " + r.stdout().strip()).strip();
        List<String> full = new ArrayList<>(prefix);
        full.addAll(command);
        return new PgMigrateException(PacemakerErrorCode.CLUSTER_COMMAND_FAILED, String.join(" ", full) + " failed with exit code "
                + r.exitCode() + (said.isEmpty() ? "" : ": " + said));
    }

    private static String read(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String toString() {
        return prefix.isEmpty() ? "local" : String.join(" ", prefix);
    }
}
