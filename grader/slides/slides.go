// Package slides checks the course's decks as a person sees them: it serves them with the present tool, as
// `make slides` does, loads each in a headless Chromium, and reports every slide whose content runs past its
// page (below, or to the right), every code line cut at the right of its block, and every backtick shown as
// text (present's legacy markup takes no space inside `...`, so "`Connection: close`" shows its backticks).
package slides

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"course/grader/browser"
	"course/harness"
)

// Width and Height are the browser window's size, in pixels: a laptop's, and larger than the size below which
// present scales its slides down (1250 × 750), so slides are measured at their own size (1100 × 700).
const Width, Height = 1280, 900

// PresentFlags are the flags `make slides` gives present, besides its address.
var PresentFlags = []string{"-notes"}

// BuildPresent builds golang.org/x/tools/cmd/present (a tool of the grader module) into dir and returns its path.
func BuildPresent(ctx context.Context, moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "present")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "golang.org/x/tools/cmd/present")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build present: %v\n%s", err, b)
	}
	return out, nil
}

// Serve starts present on a free port of 127.0.0.1, serving the folder root (the repository, whose slides/
// holds the decks: their .code lines name files outside it).
func Serve(present, root string) (*harness.Server, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	cmd := append([]string{present, "-http", "{addr}", "-content", root}, PresentFlags...)
	return harness.Start(harness.ServerConfig{Command: cmd, Dir: root, ReadyTimeout: 30 * time.Second})
}

// Problem is something wrong with one slide.
type Problem struct {
	Deck  string // the deck's file, as given to Check
	Slide int    // its number in the deck, as in the slide's address (…/deck.slide#N): the title page is 1
	Title string
	What  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: slide %d %q: %s", p.Deck, p.Slide, p.Title, p.What)
}

// Check loads the deck at url (served by Serve) in a new tab of b and returns its problems; deck names it in
// them.
func Check(ctx context.Context, b *browser.Browser, url, deck string) ([]Problem, error) {
	p, err := b.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer p.Close(ctx)
	var m struct {
		Slides int
		Found  []struct {
			Slide int
			Title string
			What  []string
		}
	}
	if err := p.Eval(ctx, measure, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", deck, err)
	}
	if m.Slides == 0 {
		return nil, fmt.Errorf("%s: no slides found at %s", deck, url)
	}
	var problems []Problem
	for _, s := range m.Found {
		for _, w := range s.What {
			problems = append(problems, Problem{Deck: deck, Slide: s.Slide, Title: s.Title, What: w})
		}
	}
	return problems, nil
}

// measure runs in the page. It shows every slide at once (present hides all but the current one and its
// neighbours) and returns, for each, what does not fit. A slide's content must end above its bottom padding
// and left of its right edge; a code block clips its lines at its own right edge.
const measure = `(() => {
  const style = document.createElement("style");
  style.textContent = "section.slides > article { display: block !important; }";
  document.head.appendChild(style);
  const px = (s) => parseFloat(s) || 0;
  const clip = (t, n) => (t.length > n ? t.slice(0, n - 1) + "…" : t);
  const out = [];
  document.querySelectorAll("section.slides > article").forEach((a, i) => {
    const r = a.getBoundingClientRect(), cs = getComputedStyle(a);
    const bottom = r.bottom - px(cs.borderBottomWidth) - px(cs.paddingBottom);
    const right = r.right - px(cs.borderRightWidth);
    const title = ((a.querySelector("h1, h2, h3") || {}).textContent || "").trim();
    const what = [];
    let low = 0, lowText = "", wide = 0, wideText = "";
    const note = (rect, text) => {
      if (rect.bottom - bottom > low) { low = rect.bottom - bottom; lowText = text; }
      if (rect.right - right > wide) { wide = rect.right - right; wideText = text; }
    };
    // Text outside code blocks, line box by line box; code blocks and pictures as boxes.
    const walk = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || el.closest("pre, .pagenumber")) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const rect of range.getClientRects()) note(rect, n.textContent.trim());
      const tick = n.textContent.indexOf("` + "`" + `");
      if (tick >= 0 && !el.closest("code")) {
        what.push("a backtick shown as text, in " + JSON.stringify(clip(n.textContent.trim(), 70)) +
          ": present's markup takes no space inside backticks; rephrase, or use a code block");
      }
    }
    a.querySelectorAll("pre, img, iframe, table, video").forEach((el) => note(el.getBoundingClientRect(), "<" + el.tagName.toLowerCase() + ">"));
    if (low > 1) what.push("its content runs " + Math.round(low) + " px (" + (low / 36).toFixed(1) +
      " lines of text) below the page, ending with " + JSON.stringify(clip(lowText, 50)));
    if (wide > 1) what.push("its content runs " + Math.round(wide) + " px past the right of the page: " + JSON.stringify(clip(wideText, 50)));
    // Code lines wider than their block: the block clips them.
    a.querySelectorAll("pre").forEach((pre) => {
      if (pre.scrollWidth <= pre.clientWidth + 1) return;
      const ps = getComputedStyle(pre);
      const probe = document.createElement("span");
      probe.textContent = "0".repeat(100);
      pre.appendChild(probe);
      const cw = probe.getBoundingClientRect().width / 100;
      probe.remove();
      const cols = Math.floor((pre.clientWidth - px(ps.paddingLeft) - px(ps.paddingRight)) / cw);
      const tab = parseInt(ps.tabSize) || 8;
      for (const line of pre.textContent.split("\n")) {
        let w = 0;
        for (const c of line) w = c === "\t" ? (Math.floor(w / tab) + 1) * tab : w + 1;
        if (w > cols) what.push("a code line of " + w + " columns, " + (w - cols) + " more than its block shows (" +
          cols + "): " + JSON.stringify(clip(line.trim(), 60)));
      }
    });
    if (what.length) out.push({Slide: i + 1, Title: title, What: what});
  });
  return {Slides: document.querySelectorAll("section.slides > article").length, Found: out};
})()`

// CheckAll serves the folder root with the present at path present, loads each of decks (files under root) in
// one headless Chromium (the one at path chromium), and returns their problems. Nothing it started is left
// running when it returns.
func CheckAll(ctx context.Context, chromium, present, root string, decks []string) ([]Problem, error) {
	srv, err := Serve(present, root)
	if err != nil {
		return nil, err
	}
	defer srv.Stop(time.Second)
	b, err := browser.Start(chromium, Width, Height)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var all []Problem
	for _, d := range decks {
		rel, err := filepath.Rel(root, d)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("%s is not under %s", d, root)
		}
		ps, err := Check(ctx, b, "http://"+srv.Addr()+"/"+filepath.ToSlash(rel), rel)
		if err != nil {
			return nil, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// Decks returns the decks in dir/slides, sorted.
func Decks(root string) ([]string, error) {
	decks, err := filepath.Glob(filepath.Join(root, "slides", "*.slide"))
	if err == nil && len(decks) == 0 {
		err = fmt.Errorf("no decks in %s", filepath.Join(root, "slides"))
	}
	return decks, err
}
