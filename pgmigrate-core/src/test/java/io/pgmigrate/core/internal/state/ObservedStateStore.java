package io.pgmigrate.core.internal.state;

import io.pgmigrate.StateStore;

import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/** A state store for unit tests: {@code delegate}, with a hook before each load and saves made by {@code save}. */
public final class ObservedStateStore implements StateStore {

    private final StateStore delegate;
    private final Consumer<String> beforeLoad;
    private final BiConsumer<String, String> save;

    private ObservedStateStore(StateStore delegate, Consumer<String> beforeLoad, BiConsumer<String, String> save) {
        this.delegate = delegate;
        this.beforeLoad = beforeLoad;
        this.save = save;
    }

    /** {@code delegate}, its saves made by {@code save} instead. */
    public static StateStore savingThrough(StateStore delegate, BiConsumer<String, String> save) {
        return new ObservedStateStore(delegate, key -> { }, save);
    }

    /** {@code delegate}, calling {@code beforeLoad} with the key before each load. */
    public static StateStore watchingLoads(StateStore delegate, Consumer<String> beforeLoad) {
        return new ObservedStateStore(delegate, beforeLoad, delegate::save);
    }

    @Override
    public Optional<String> load(String key) {
        beforeLoad.accept(key);
        return delegate.load(key);
    }

    @Override
    public void save(String key, String document) {
        save.accept(key, document);
    }

    @Override
    public void delete(String key) {
        delegate.delete(key);
    }
}
