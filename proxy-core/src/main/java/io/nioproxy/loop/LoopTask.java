package io.nioproxy.loop;

/**
 * Work handed to an event loop from another thread through its MPSC queue ({@link EventLoop#execute}). Each kind of
 * work is its own small class that carries its data, so nothing captures a lambda per hand-off.
 *
 * <p>Threading: constructed on any thread, {@link #runOn} is called on the loop thread.
 */
public interface LoopTask {
    void runOn(EventLoop loop);

    /** Called instead of {@link #runOn} when the loop has stopped and will never run it: release what it holds. */
    default void discard() {
    }
}
