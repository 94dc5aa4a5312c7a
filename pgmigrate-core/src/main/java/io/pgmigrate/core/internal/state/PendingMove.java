package io.pgmigrate.core.internal.state;

import io.pgmigrate.Lsn;
import io.pgmigrate.Side;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A cutover or rollback that was started and neither finished nor undone, as the journal holds it. Immutable; each
 * change is a new value. Saved when the move starts, once prepared, with the window's start right before the
 * write-unavailable window, and inside it only at {@link Step#SWITCHING}: the steps between are kept in memory and
 * saved with that one.
 *
 * @param to         where the move sends traffic
 * @param step       the last step it finished (as saved: inside the window, the last one before it, or SWITCHING)
 * @param fenceStart when the old side's fence went up, once it did
 * @param switchEnd  when the traffic switch returned, once it did
 * @param sentinels  each database's sentinel position, once the new side applied everything
 */
public record PendingMove(Side to, Step step, Optional<Instant> fenceStart, Optional<Instant> switchEnd,
                          Map<String, Lsn> sentinels) {

    /** The steps of a move; the order matters. */
    public enum Step { STARTED, PREPARED, FENCED, SYNCED, SEQUENCES_SET, OUTBOUND_READY, SWITCHING, SWITCHED }

    public PendingMove {
        Objects.requireNonNull(to, "to");
        Objects.requireNonNull(step, "step");
        fenceStart = fenceStart == null ? Optional.empty() : fenceStart;
        switchEnd = switchEnd == null ? Optional.empty() : switchEnd;
        sentinels = sentinels == null ? Map.of() : Map.copyOf(sentinels);
    }

    public static PendingMove start(Side to) {
        return new PendingMove(to, Step.STARTED, Optional.empty(), Optional.empty(), Map.of());
    }

    public PendingMove at(Step s) {
        return new PendingMove(to, s, fenceStart, switchEnd, sentinels);
    }

    public PendingMove fenced(Instant start) {
        return new PendingMove(to, step, Optional.of(start), switchEnd, sentinels);
    }

    public PendingMove synced(Map<String, Lsn> lsns) {
        return new PendingMove(to, Step.SYNCED, fenceStart, switchEnd, lsns);
    }

    public PendingMove switched(Instant end) {
        return new PendingMove(to, step, fenceStart, Optional.of(end), sentinels);
    }

    /** Whether the move got as far as calling the traffic switch. */
    public boolean reachedSwitch() {
        return step.compareTo(Step.SWITCHING) >= 0;
    }
}
