// Command podsecurity-fixtures writes the Pod Security Standards fixture corpus of
// k8s.io/pod-security-admission (the version this module pins) as one JSON document: every
// minimal valid Pod and every pass/fail Pod upstream's generators produce, per level and
// version, with the check it was generated for and the forbidden reasons upstream's own
// checks give for it. Built and run by scripts/build-podsecurity-fixtures.sh only (it needs
// export_fixtures.go.in added to upstream's test package by `go build -overlay`).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/pod-security-admission/test"
)

const module = "k8s.io/pod-security-admission"

// Forbidden is one failed check, as the apiserver words it.
type Forbidden struct {
	Check  string `json:"check"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

type Fixture struct {
	Level   string `json:"level"`
	Version string `json:"version"`
	// Check is empty for the minimal valid Pods.
	Check                string      `json:"check"`
	Expect               string      `json:"expect"`
	Name                 string      `json:"name"`
	ExpectErrorSubstring string      `json:"expectErrorSubstring,omitempty"`
	FailRequiresFeatures []string    `json:"failRequiresFeatures,omitempty"`
	Pod                  *corev1.Pod `json:"pod"`
	// Upstream is what upstream's checks forbid in Pod as written (before the apiserver's
	// defaulting, so a pass fixture relying on a default may be listed with a failure here).
	Upstream []Forbidden `json:"upstream"`
}

// Span is what upstream's checks forbid in a Pod from version Since on, up to the next span.
type Span struct {
	Since     string      `json:"since"`
	Forbidden []Forbidden `json:"forbidden"`
}

// Crossed is one distinct Pod of the corpus, evaluated at every level and version (not only
// the fixture's own), after the apiserver's defaulting that these checks can see.
type Crossed struct {
	// From names the first fixture with this Pod.
	From       string      `json:"from"`
	Pod        *corev1.Pod `json:"pod"`
	Baseline   []Span      `json:"baseline"`
	Restricted []Span      `json:"restricted"`
}

type Corpus struct {
	Module        string    `json:"module"`
	GoVersion     string    `json:"goVersion"`
	NewestVersion string    `json:"newestVersion"`
	Fixtures      []Fixture `json:"fixtures"`
	Crossed       []Crossed `json:"crossed"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: podsecurity-fixtures OUTPUT.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "podsecurity-fixtures:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	version, minor, err := moduleVersion()
	if err != nil {
		return err
	}
	exported, err := test.ExportFixtures(minor)
	if err != nil {
		return err
	}
	checks := policy.DefaultChecks()
	evaluator, err := newEvaluator(checks)
	if err != nil {
		return err
	}
	corpus := Corpus{
		Module:        module + "@" + version,
		GoVersion:     runtime.Version(),
		NewestVersion: fmt.Sprintf("v1.%d", minor),
	}
	// evaluateBoth is evaluate, checked against upstream's registry (its ordering and
	// overrides), so that the per-check list cannot silently drift from what the apiserver runs.
	evaluateBoth := func(lv api.LevelVersion, pod *corev1.Pod) ([]Forbidden, error) {
		forbidden := evaluate(checks, lv, pod)
		var fromRegistry []Forbidden
		for _, r := range evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				fromRegistry = append(fromRegistry, Forbidden{Reason: r.ForbiddenReason, Detail: r.ForbiddenDetail})
			}
		}
		if !sameResults(forbidden, fromRegistry) {
			return nil, fmt.Errorf("%s %s: per-check results %v differ from the registry's %v", lv, pod.Name, forbidden, fromRegistry)
		}
		return forbidden, nil
	}
	seen := map[string]bool{}
	for _, f := range exported {
		pod := f.Pod.DeepCopy()
		pod.APIVersion, pod.Kind, pod.Name = "v1", "Pod", f.Name
		lv := api.LevelVersion{Level: f.Level, Version: f.Version}
		forbidden, err := evaluateBoth(lv, pod)
		if err != nil {
			return err
		}
		expect := "fail"
		if f.Pass {
			expect = "pass"
		}
		from := fmt.Sprintf("%s %s/%s", lv, expect, f.Name)
		crossed, err := cross(pod, minor, from, seen, evaluateBoth)
		if err != nil {
			return err
		}
		if crossed != nil {
			corpus.Crossed = append(corpus.Crossed, *crossed)
		}
		corpus.Fixtures = append(corpus.Fixtures, Fixture{
			Level:                string(f.Level),
			Version:              f.Version.String(),
			Check:                string(f.Check),
			Expect:               expect,
			Name:                 f.Name,
			ExpectErrorSubstring: f.ExpectErrorSubstring,
			FailRequiresFeatures: f.FailRequiresFeatures,
			Pod:                  pod,
			Upstream:             forbidden,
		})
	}
	data, err := json.Marshal(corpus)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// cross evaluates a Pod not seen before at every level and version 1.0 to 1.newest.
func cross(pod *corev1.Pod, newest int, from string, seen map[string]bool,
	evaluate func(api.LevelVersion, *corev1.Pod) ([]Forbidden, error)) (*Crossed, error) {
	anonymous := defaulted(pod)
	anonymous.Name = ""
	key, err := json.Marshal(anonymous)
	if err != nil {
		return nil, err
	}
	if seen[string(key)] {
		return nil, nil
	}
	seen[string(key)] = true
	crossed := &Crossed{From: from, Pod: anonymous}
	for _, level := range []api.Level{api.LevelBaseline, api.LevelRestricted} {
		var spans []Span
		for m := 0; m <= newest; m++ {
			forbidden, err := evaluate(api.LevelVersion{Level: level, Version: api.MajorMinorVersion(1, m)}, anonymous)
			if err != nil {
				return nil, err
			}
			if len(spans) > 0 && reflect.DeepEqual(spans[len(spans)-1].Forbidden, forbidden) {
				continue
			}
			spans = append(spans, Span{Since: fmt.Sprintf("v1.%d", m), Forbidden: forbidden})
		}
		if level == api.LevelBaseline {
			crossed.Baseline = spans
		} else {
			crossed.Restricted = spans
		}
	}
	return crossed, nil
}

// defaulted is the Pod after the one defaulting of the apiserver these checks can see: a
// volume without a source becomes an emptyDir (SetDefaults_Volume), which restrictedVolumes
// would otherwise call "unknown". (The fixtures keep the Pod as upstream generates it.)
func defaulted(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].VolumeSource == (corev1.VolumeSource{}) {
			pod.Spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	return pod
}

// moduleVersion is the pinned version of k8s.io/pod-security-admission and its Kubernetes
// minor (v0.33.13 -> 33).
func moduleVersion() (string, int, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", 0, fmt.Errorf("no build info")
	}
	for _, dep := range info.Deps {
		if dep.Path != module {
			continue
		}
		m := regexp.MustCompile(`^v0\.(\d+)\.`).FindStringSubmatch(dep.Version)
		if m == nil {
			return "", 0, fmt.Errorf("unexpected %s version %s", module, dep.Version)
		}
		minor, _ := strconv.Atoi(m[1])
		return dep.Version, minor, nil
	}
	return "", 0, fmt.Errorf("%s is not a dependency", module)
}

// evaluate runs, in the apiserver's order, the check versions that apply to lv and returns
// the failed ones with their IDs (the registry's results carry no IDs).
func evaluate(checks []policy.Check, lv api.LevelVersion, pod *corev1.Pod) []Forbidden {
	type applicable struct {
		check     policy.Check
		versioned policy.VersionedCheck
	}
	selected := map[policy.CheckID]applicable{}
	for _, c := range checks {
		if lv.Level == api.LevelBaseline && c.Level != api.LevelBaseline {
			continue
		}
		var found *policy.VersionedCheck
		for i := range c.Versions {
			if !lv.Version.Older(c.Versions[i].MinimumVersion) {
				found = &c.Versions[i]
			}
		}
		if found != nil {
			selected[c.ID] = applicable{c, *found}
		}
	}
	for _, a := range selected {
		for _, id := range a.versioned.OverrideCheckIDs {
			delete(selected, id)
		}
	}
	var baseline, restricted []string
	for id, a := range selected {
		if a.check.Level == api.LevelBaseline {
			baseline = append(baseline, string(id))
		} else {
			restricted = append(restricted, string(id))
		}
	}
	slices.Sort(baseline)
	slices.Sort(restricted)
	forbidden := []Forbidden{}
	for _, id := range append(baseline, restricted...) {
		r := selected[policy.CheckID(id)].versioned.CheckPod(&pod.ObjectMeta, &pod.Spec)
		if !r.Allowed {
			forbidden = append(forbidden, Forbidden{Check: id, Reason: r.ForbiddenReason, Detail: r.ForbiddenDetail})
		}
	}
	return forbidden
}

func sameResults(withIDs, withoutIDs []Forbidden) bool {
	if len(withIDs) != len(withoutIDs) {
		return false
	}
	for i := range withIDs {
		if withIDs[i].Reason != withoutIDs[i].Reason || withIDs[i].Detail != withoutIDs[i].Detail {
			return false
		}
	}
	return true
}

// newEvaluator calls policy.NewEvaluator, which gained an emulation-version parameter in
// 1.34 (nil: no emulation), so that this program builds against either signature.
func newEvaluator(checks []policy.Check) (policy.Evaluator, error) {
	fn := reflect.ValueOf(policy.NewEvaluator)
	args := []reflect.Value{reflect.ValueOf(checks)}
	if fn.Type().NumIn() == 2 {
		args = append(args, reflect.Zero(fn.Type().In(1)))
	}
	out := fn.Call(args)
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, err
	}
	evaluator, ok := out[0].Interface().(policy.Evaluator)
	if !ok {
		return nil, fmt.Errorf("policy.NewEvaluator returned %T", out[0].Interface())
	}
	return evaluator, nil
}
