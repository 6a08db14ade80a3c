package io.nioproxy;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No two packages of the balancer depend on each other, directly or round a longer circle: a package that imports
 * one above it (the view from the rebalancer, the control plane from a listener) fails here with the circle named.
 * Dependencies are read from the main sources: imports, static imports and fully qualified names in code.
 */
class PackageCyclesTest {
    private static final Path MAIN = Path.of("src", "main", "java");
    private static final Pattern PACKAGE = Pattern.compile("^package\\s+([\\w.]+);", Pattern.MULTILINE);
    /** A reference to a type of ours: the package is the run of lower-case segments before the first capital. */
    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.nioproxy((?:\\.[a-z][a-z0-9_]*)*)\\.[A-Z]");

    @Test
    void noPackageDependsOnItselfRoundACircle() throws IOException {
        Map<String, Set<String>> graph = dependencies();
        assertTrue(graph.size() >= 15, "the sources were read: " + graph.keySet());
        assertEquals(List.of(), circles(graph), "packages that depend on each other");
    }

    @Test
    void theCircleFinderFindsACircle() {
        Map<String, Set<String>> g = new TreeMap<>();
        g.put("a", Set.of("b"));
        g.put("b", Set.of("c"));
        g.put("c", Set.of("a", "d"));
        g.put("d", Set.of());
        assertEquals(List.of(List.of("a", "b", "c")), circles(g));
    }

    private static Map<String, Set<String>> dependencies() throws IOException {
        Map<String, Set<String>> graph = new TreeMap<>();
        try (Stream<Path> files = Files.walk(MAIN)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                String src = Files.readString(f);
                Matcher p = PACKAGE.matcher(src);
                assertTrue(p.find(), f + " declares its package");
                String own = p.group(1);
                Set<String> deps = graph.computeIfAbsent(own, k -> new TreeSet<>());
                Matcher r = REFERENCE.matcher(src.substring(p.end()));
                while (r.find()) {
                    String pkg = "io.nioproxy" + r.group(1);
                    if (!pkg.equals(own)) {
                        deps.add(pkg);
                    }
                }
            }
        }
        return graph;
    }

    /** The strongly connected components of more than one package (Tarjan), each sorted, in order of their first. */
    static List<List<String>> circles(Map<String, Set<String>> graph) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<List<String>> out = new ArrayList<>();
        for (String v : graph.keySet()) {
            if (!index.containsKey(v)) {
                connect(v, graph, index, low, stack, onStack, out);
            }
        }
        out.sort((x, y) -> x.get(0).compareTo(y.get(0)));
        return out;
    }

    private static void connect(String v, Map<String, Set<String>> graph, Map<String, Integer> index,
                                Map<String, Integer> low, Deque<String> stack, Set<String> onStack,
                                List<List<String>> out) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        onStack.add(v);
        for (String w : graph.getOrDefault(v, Set.of())) {
            if (!index.containsKey(w)) {
                connect(w, graph, index, low, stack, onStack, out);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            List<String> component = new ArrayList<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                component.add(w);
            } while (!w.equals(v));
            if (component.size() > 1) {
                component.sort(null);
                out.add(component);
            }
        }
    }
}
