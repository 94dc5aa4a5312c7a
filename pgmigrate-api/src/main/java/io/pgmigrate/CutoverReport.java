package io.pgmigrate;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a cutover (or rollback) did and how long writes were unavailable.
 *
 * @param to           the side traffic was moved to: {@link Side#TARGET} for a cutover, {@link Side#SOURCE} for a
 *                     rollback
 * @param fenceStart   when the side traffic left stopped accepting writes
 * @param switchEnd    when traffic reached the other side and it accepted writes (or, for an abandoned cutover, when
 *                     the fence was lifted again)
 * @param steps        each step's duration, in order
 * @param sentinelLsns the cut position per database on the side traffic left
 * @param sequences    the sequences set on the side traffic moved to, per database
 * @param succeeded    whether traffic now goes to {@code to}
 * @param failure      why the cutover was abandoned, when it was; empty otherwise
 * @since 0.1.0
 */
public record CutoverReport(Side to, Instant fenceStart, Instant switchEnd, List<Step> steps,
                            Map<String, Lsn> sentinelLsns, Map<String, List<SequenceValue>> sequences,
                            boolean succeeded, String failure) {

    /**
     * Makes unmodifiable copies of the lists and maps, and turns a null {@code failure} into an empty string.
     *
     * @param to           the side traffic was moved to
     * @param fenceStart   when the side traffic left stopped accepting writes
     * @param switchEnd    when traffic reached the other side, or the fence of an abandoned cutover was lifted
     * @param steps        each step's duration, in order
     * @param sentinelLsns the cut position per database on the side traffic left
     * @param sequences    the sequences set on the side traffic moved to, per database
     * @param succeeded    whether traffic now goes to {@code to}
     * @param failure      why the cutover was abandoned, when it was; null or empty otherwise
     */
    public CutoverReport {
        steps = List.copyOf(steps);
        sentinelLsns = Map.copyOf(sentinelLsns);
        Map<String, List<SequenceValue>> copy = new TreeMap<>();
        sequences.forEach((db, values) -> copy.put(db, List.copyOf(values)));
        sequences = Map.copyOf(copy);
        failure = failure == null ? "" : failure;
    }

    /**
     * The write-unavailable window: from fence start to switch end.
     *
     * @return the time between {@code fenceStart} and {@code switchEnd}
     */
    public Duration writeUnavailable() {
        return Duration.between(fenceStart, switchEnd);
    }

    /**
     * A few lines for a terminal: the window, each step, the sentinels and how many sequences were set.
     *
     * @return the lines, joined by the platform's line separator, with none after the last
     */
    public String toText() {
        List<String> lines = new ArrayList<>();
        lines.add((to == Side.TARGET ? "cutover to the target" : "rollback to the source")
                + (succeeded ? " succeeded" : " abandoned: " + failure));
        lines.add(String.format("  write-unavailable window: %d ms (fence %s .. switch %s)",
                writeUnavailable().toMillis(), fenceStart, switchEnd));
        int width = steps.stream().mapToInt(s -> s.name().length()).max().orElse(0);
        for (Step s : steps) {
            lines.add(String.format("  %-" + width + "s %6d ms", s.name(), s.duration().toMillis()));
        }
        new TreeMap<>(sentinelLsns).forEach((db, lsn) -> lines.add("  sentinel " + db + ": " + lsn + ", "
                + sequences.getOrDefault(db, List.of()).size() + " sequences set"));
        return String.join(System.lineSeparator(), lines);
    }

    /**
     * One step of the cutover and its duration.
     *
     * @param name     what the step did, such as {@code sentinel applied}
     * @param duration how long it took
     */
    public record Step(String name, Duration duration) {
    }

    /**
     * A sequence as the new side has it after the copy.
     *
     * @param schema    the sequence's schema name, unquoted
     * @param name      the sequence's name, unquoted
     * @param nextValue what the next {@code nextval()} on the new side returns
     */
    public record SequenceValue(String schema, String name, long nextValue) {
    }
}
