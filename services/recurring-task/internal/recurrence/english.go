package recurrence

import (
	"slices"
	"strconv"
	"strings"
)

// English lists, ordinals and numbers for Text.

// ordinalList renders positions, positive ones first: "1st, 15th and last".
func ordinalList(ns []int) string {
	ordered := slices.Clone(ns)
	slices.SortStableFunc(ordered, positiveFirst)
	parts := make([]string, len(ordered))
	for i, n := range ordered {
		parts[i] = ordinal(n)
	}
	return list(parts)
}

// positiveFirst orders 1, 2, ... before -2, -1 (counting from the start, then the end).
func positiveFirst(a, b int) int {
	if (a < 0) != (b < 0) {
		if a < 0 {
			return 1
		}
		return -1
	}
	return a - b
}

// ordinal renders 1 as "1st", -1 as "last", -2 as "2nd last".
func ordinal(n int) string {
	switch {
	case n == -1:
		return "last"
	case n < 0:
		return ordinal(-n) + " last"
	}
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}

func intStrings(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// list joins "a", "a and b", "a, b and c".
func list(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
