package io.pgmigrate;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * What a cutover did and how long writes were unavailable.
 *
 * @param fenceStart       when the old side stopped accepting writes
 * @param switchEnd        when traffic reached the new side
 * @param steps            each step's duration, in order
 * @param sentinelLsns     the cut position per database on the old side
 * @param sequences        the sequences set on the new side, per database
 * @param succeeded        whether traffic now goes to the new side
 * @param failure          why the cutover was abandoned, when it was; empty otherwise
 */
public record CutoverReport(Instant fenceStart, Instant switchEnd, List<Step> steps, Map<String, Lsn> sentinelLsns,
                            Map<String, List<SequenceValue>> sequences, boolean succeeded, String failure) {

    public CutoverReport {
        steps = List.copyOf(steps);
        sentinelLsns = Map.copyOf(sentinelLsns);
        sequences = Map.copyOf(sequences);
        failure = failure == null ? "" : failure;
    }

    /** The write-unavailable window: from fence start to switch end. */
    public Duration writeUnavailable() {
        return Duration.between(fenceStart, switchEnd);
    }

    /** One step of the cutover and its duration. */
    public record Step(String name, Duration duration) {
    }

    /** A sequence as it was set on the new side. */
    public record SequenceValue(String schema, String name, long value) {
    }
}
