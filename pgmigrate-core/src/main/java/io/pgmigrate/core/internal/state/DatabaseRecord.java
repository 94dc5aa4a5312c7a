package io.pgmigrate.core.internal.state;

import io.pgmigrate.Phase;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * One database's part of the journal.
 *
 * @param phase where the database's migration stands
 * @param flags the objects the migration created on it and the steps it finished
 * @param copy  the initial copy pgmigrate runs itself, while it runs (empty before and after, and when the
 *              subscription copies)
 */
public record DatabaseRecord(Phase phase, Set<Flag> flags, Optional<CopyRecord> copy) {

    public static final DatabaseRecord EMPTY = new DatabaseRecord(Phase.NOT_STARTED, Set.of(), Optional.empty());

    public DatabaseRecord {
        phase = phase == null ? Phase.NOT_STARTED : phase;
        copy = copy == null ? Optional.empty() : copy;
        // ordered by declaration, so the journal's text is stable
        flags = flags == null || flags.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(flags));
    }

    public DatabaseRecord withPhase(Phase p) {
        return new DatabaseRecord(p, flags, copy);
    }

    public DatabaseRecord withCopy(Optional<CopyRecord> c) {
        return new DatabaseRecord(phase, flags, c);
    }

    public DatabaseRecord with(Flag flag, boolean set) {
        EnumSet<Flag> f = flags.isEmpty() ? EnumSet.noneOf(Flag.class) : EnumSet.copyOf(flags);
        if (set) {
            f.add(flag);
        } else {
            f.remove(flag);
        }
        return new DatabaseRecord(phase, f, copy);
    }
}
