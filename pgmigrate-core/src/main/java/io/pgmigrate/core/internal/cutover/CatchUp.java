package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.replication.LinkState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * The cutover's wait for a backlog, before it touches anything: every inbound stream must come within
 * {@code cutoverMaxLagBytes} of its publisher, so the sentinel wait inside the write-unavailable window stays short.
 * A user calling {@code cutover()} under live load need not race {@code awaitInSync()} first. When the lag does not
 * come down within {@code cutoverCatchUpTimeout}, the refusal names the publisher's WAL rate and the stream's apply
 * rate over the whole wait, so the user can tell a target that will never catch up at this load from one that needs
 * a little longer.
 */
final class CatchUp {

    private static final Logger LOG = LoggerFactory.getLogger(CatchUp.class);
    private static final long MAX_PAUSE_MILLIS = 250;

    private final long maxLagBytes;
    private final Duration timeout;
    private final Duration progressInterval;
    private final Runnable progress;

    /**
     * @param maxLagBytes      the lag every stream must come within
     * @param timeout          how long to wait for that
     * @param progressInterval how often {@code progress} runs while waiting
     * @param progress         reports the migration's status to the listeners
     */
    CatchUp(long maxLagBytes, Duration timeout, Duration progressInterval, Runnable progress) {
        this.maxLagBytes = maxLagBytes;
        this.timeout = timeout;
        this.progressInterval = progressInterval;
        this.progress = progress;
    }

    /**
     * Reads every stream through {@code read} until each is at most {@code maxLagBytes} behind; {@code read} throws
     * for anything waiting cannot mend (a disabled subscription, a lost slot).
     *
     * @param read       the state of every inbound stream, by database
     * @param subscriber how the side the streams apply to is called in messages ("target", "source")
     * @throws PgMigrateException {@link CoreErrorCode#CUTOVER_FAILED} when the time runs out, naming both rates
     */
    void await(Supplier<Map<String, LinkState>> read, String subscriber) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        Map<String, LinkState> first = new TreeMap<>(read.get());
        long initial = first.values().stream().mapToLong(LinkState::lagBytes).max().orElse(0);
        Map<String, LinkState> last = first;
        long nextProgress = start;
        long pause = 20;
        while (true) {
            List<String> behind = behind(last);
            if (behind.isEmpty()) {
                if (initial > maxLagBytes) {
                    LOG.info("the {} caught up from {} bytes behind in {} ms", subscriber, initial,
                            (System.nanoTime() - start) / 1_000_000);
                }
                return;
            }
            long now = System.nanoTime();
            if (now - deadline >= 0) {
                throw refusal(first, last, behind, now - start, subscriber);
            }
            if (now - nextProgress >= 0) {
                if (nextProgress == start) {
                    LOG.info("waiting up to {} for the {} to come within {} bytes: {}", timeout, subscriber,
                            maxLagBytes, lags(last, behind));
                }
                progress.run();
                nextProgress = now + progressInterval.toNanos();
            }
            Waits.pause(Math.max(1, Math.min(pause, (deadline - now) / 1_000_000)), null);
            pause = Math.min(pause * 2, MAX_PAUSE_MILLIS);
            last = new TreeMap<>(read.get());
        }
    }

    private List<String> behind(Map<String, LinkState> states) {
        List<String> out = new ArrayList<>();
        states.forEach((db, s) -> {
            if (s.lagBytes() > maxLagBytes) {
                out.add(db);
            }
        });
        return out;
    }

    private static String lags(Map<String, LinkState> states, List<String> dbs) {
        List<String> parts = new ArrayList<>();
        for (String db : dbs) {
            parts.add(db + " " + states.get(db).lagBytes() + " bytes behind");
        }
        return String.join(", ", parts);
    }

    private PgMigrateException refusal(Map<String, LinkState> first, Map<String, LinkState> last, List<String> behind,
                                       long waitedNanos, String subscriber) {
        List<String> parts = new ArrayList<>();
        for (String db : behind) {
            LinkState a = first.get(db);
            LinkState b = last.get(db);
            long written = b.sourceLsn().bytesAfter(a.sourceLsn());
            long applied = b.confirmedLsn().bytesAfter(a.confirmedLsn());
            String verdict;
            if (applied <= written) {
                verdict = "it cannot catch up at this load";
            } else {
                // Lag shrinks by (applied - written) per wait; the rest shrinks at the same pace.
                long needed = b.lagBytes() - maxLagBytes;
                double seconds = needed * (waitedNanos / 1e9) / (applied - written);
                verdict = String.format(Locale.ROOT, "at these rates it needs about %.0f s more", Math.ceil(seconds));
            }
            parts.add(String.format(Locale.ROOT, "%sthe %s is still %d bytes behind (it was %d);"
                            + " over the wait the publisher wrote WAL at %s and the stream applied %s, so %s%s",
                    behind.size() == 1 ? "" : "database \"" + db + "\": ", subscriber, b.lagBytes(), a.lagBytes(), rate(written, waitedNanos), rate(applied, waitedNanos),
                    verdict, b.problem().isEmpty() ? "" : " (" + b.problem() + ")"));
        }
        String message = String.format(Locale.ROOT, "pre-check: the stream did not come within cutoverMaxLagBytes"
                        + " %d in %d s (cutoverCatchUpTimeout %s): %s. Cut over at a quieter moment, raise"
                        + " cutoverCatchUpTimeout, or find what slows the %s's apply; nothing was changed",
                maxLagBytes, Math.round(waitedNanos / 1e9), timeout, String.join("; ", parts), subscriber);
        // One database: the exception names it; several: each part does.
        return new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, behind.size() == 1 ? behind.get(0) : null, message);
    }

    /** Bytes per second, in the unit that keeps the number readable. */
    static String rate(long bytes, long nanos) {
        double perSecond = nanos <= 0 ? 0 : bytes / (nanos / 1e9);
        if (perSecond >= 1 << 20) {
            return String.format(Locale.ROOT, "%.1f MiB/s", perSecond / (1 << 20));
        }
        return String.format(Locale.ROOT, "%.1f KiB/s", perSecond / 1024);
    }
}
