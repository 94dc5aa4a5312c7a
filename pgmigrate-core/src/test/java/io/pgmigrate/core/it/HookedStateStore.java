package io.pgmigrate.core.it;

import io.pgmigrate.StateStore;

import java.util.Optional;

/**
 * A state store that runs an action right after it saved a document containing a marker (a journal step such as
 * {@code "FENCED"}): how a test makes something happen at an exact point of a cutover.
 */
final class HookedStateStore implements StateStore {

    private final StateStore delegate;
    private final String marker;
    private final Runnable action;

    private HookedStateStore(StateStore delegate, String marker, Runnable action) {
        this.delegate = delegate;
        this.marker = marker;
        this.action = action;
    }

    /** {@code delegate}, running {@code action} after every save whose document contains {@code marker}. */
    static StateStore afterSaving(StateStore delegate, String marker, Runnable action) {
        return new HookedStateStore(delegate, marker, action);
    }

    @Override
    public Optional<String> load(String key) {
        return delegate.load(key);
    }

    @Override
    public void save(String key, String document) {
        delegate.save(key, document);
        if (document.contains(marker)) {
            action.run();
        }
    }

    @Override
    public void delete(String key) {
        delegate.delete(key);
    }
}
