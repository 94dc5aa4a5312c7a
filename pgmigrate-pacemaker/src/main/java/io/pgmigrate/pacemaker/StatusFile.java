package io.pgmigrate.pacemaker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The agent's status file, which the OCF monitor reads instead of starting a JVM: the supervisor's state and a
 * timestamp the monitor checks for staleness. A thread of its own rewrites it every {@code interval}, so a cutover
 * that waits minutes for a backlog (it runs on the supervisor's thread) does not look like a hung process and get
 * the resource killed in the middle of its window. It stops refreshing once the supervisor has not reported for
 * longer than a call may legitimately take ({@link #allowQuiet}), so a supervisor that really hangs still goes stale.
 */
final class StatusFile implements AutoCloseable {

    private final Path file;
    private final AtomicReference<String[]> current = new AtomicReference<>(new String[]{"STARTING", ""});
    private final ScheduledExecutorService heartbeat;
    private volatile long lastSetNanos = System.nanoTime();
    private volatile Duration maxQuiet;

    /**
     * @param interval how often the file is rewritten
     * @param maxQuiet how long the supervisor may go without reporting before the file is left to go stale
     */
    StatusFile(Path file, Duration interval, Duration maxQuiet) {
        this.file = file;
        this.maxQuiet = maxQuiet;
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pgmigrate-status");
            t.setDaemon(true);
            return t;
        });
        write();
        heartbeat.scheduleWithFixedDelay(this::writeQuietly, interval.toMillis(), interval.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    /** Records a new state and writes it at once. */
    void set(String state, String message) {
        current.set(new String[]{state, message.replace('\n', ' ')});
        lastSetNanos = System.nanoTime();
        write();
    }

    /** How long the supervisor may now go without reporting, for example the longest a cutover can take. */
    void allowQuiet(Duration quiet) {
        this.maxQuiet = quiet;
    }

    private void writeQuietly() {
        if (System.nanoTime() - lastSetNanos > maxQuiet.toNanos()) {
            return; // the supervisor is stuck beyond any call's bound: let the monitor see it
        }
        try {
            write();
        } catch (UncheckedIOException e) {
            System.err.println(Instant.now() + " writing the status file failed: " + e.getMessage());
        }
    }

    private synchronized void write() {
        String[] s = current.get();
        String text = "state=" + s[0] + "\nmessage=" + s[1] + "\nupdated=" + Instant.now().getEpochSecond() + "\n";
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Stops the heartbeat; the file keeps the last state, which then ages as the process is gone. */
    @Override
    public void close() {
        heartbeat.shutdownNow();
    }
}
