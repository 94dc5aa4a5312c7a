package io.pgmigrate.core.internal.state;

import io.pgmigrate.Lsn;
import io.pgmigrate.Side;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The last cutover or rollback that finished, as the journal keeps it: a second {@code cutover()} returns its report.
 *
 * @param to         where it sent traffic
 * @param fenceStart when the old side's fence went up
 * @param switchEnd  when the traffic switch returned
 * @param steps      its steps and how long each took
 * @param sentinels  each database's sentinel position
 */
public record FinishedMove(Side to, Instant fenceStart, Instant switchEnd, List<StepTime> steps,
                           Map<String, Lsn> sentinels) {

    /**
     * One step of a finished move.
     *
     * @param name     what the step did
     * @param duration how long it took
     */
    public record StepTime(String name, Duration duration) {

        public StepTime {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(duration, "duration");
        }
    }

    public FinishedMove {
        Objects.requireNonNull(to, "to");
        Objects.requireNonNull(fenceStart, "fenceStart");
        Objects.requireNonNull(switchEnd, "switchEnd");
        steps = steps == null ? List.of() : List.copyOf(steps);
        sentinels = sentinels == null ? Map.of() : Map.copyOf(sentinels);
    }
}
