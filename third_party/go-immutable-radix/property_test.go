package iradix

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// These check this copy's trees against a map across many transactions:
// every committed tree keeps its contents forever (no node of a committed
// tree is written after), and a watch fires when what it watches changes
// (buildmaster: see third_party/README.md).

type propModel map[string]int

func (m propModel) clone() propModel {
	c := make(propModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func propKey(r *rand.Rand) string {
	n := 1 + r.Intn(6)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte("abc"[r.Intn(3)])
	}
	return b.String()
}

// propCheck fails when tree's contents differ from m.
func propCheck(t *testing.T, what string, tree *Tree, m propModel) {
	t.Helper()
	if tree.Len() != len(m) {
		t.Fatalf("%s: Len = %d, want %d", what, tree.Len(), len(m))
	}
	n := 0
	tree.Root().Walk(func(k []byte, v interface{}) bool {
		n++
		if w, ok := m[string(k)]; !ok || w != v.(int) {
			t.Fatalf("%s: %q = %v, want %v (present %v)", what, k, v, w, ok)
		}
		return false
	})
	if n != len(m) {
		t.Fatalf("%s: walked %d keys, want %d", what, n, len(m))
	}
	for k, v := range m {
		if got, ok := tree.Get([]byte(k)); !ok || got.(int) != v {
			t.Fatalf("%s: Get(%q) = %v %v, want %d", what, k, got, ok, v)
		}
	}
}

// propTxn applies random writes to txn and m, returning the keys written.
func propTxn(r *rand.Rand, txn *Txn, m propModel, ops int, val *int) map[string]bool {
	touched := map[string]bool{}
	for i := 0; i < ops; i++ {
		k := propKey(r)
		*val++
		switch r.Intn(6) {
		case 0, 1, 2:
			txn.Insert([]byte(k), *val)
			m[k] = *val
			touched[k] = true
		case 3, 4:
			if _, ok := m[k]; ok {
				touched[k] = true
			}
			txn.Delete([]byte(k))
			delete(m, k)
		case 5:
			p := k[:1+r.Intn(len(k))]
			if r.Intn(4) != 0 {
				continue
			}
			for mk := range m {
				if strings.HasPrefix(mk, p) {
					delete(m, mk)
					touched[mk] = true
				}
			}
			txn.DeletePrefix([]byte(p))
		}
	}
	return touched
}

type propWatch struct {
	key string
	ch  <-chan struct{}
}

// TestTxnProperty: random transactions, clones and reused transactions,
// with and without tracking, against a map; every tree ever committed is
// checked again at the end, and the watches of each tree fire as they must.
func TestTxnProperty(t *testing.T) {
	for seed := int64(0); seed < 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewSource(seed))
			type version struct {
				tree *Tree
				m    propModel
			}
			var all []version
			tree, m := New(), propModel{}
			val := 0
			for round := 0; round < 300; round++ {
				// Watch every key of the current tree and some prefixes.
				var leaves, prefixes []propWatch
				for k := range m {
					ch, _, _ := tree.Root().GetWatch([]byte(k))
					leaves = append(leaves, propWatch{k, ch})
				}
				for i := 0; i < 4; i++ {
					p := propKey(r)[:1]
					if r.Intn(2) == 0 {
						p = propKey(r)
					}
					it := tree.Root().Iterator()
					prefixes = append(prefixes, propWatch{p, it.SeekPrefixWatch([]byte(p))})
				}

				txn := tree.Txn()
				track := r.Intn(4) != 0
				txn.TrackMutate(track)
				nm := m.clone()
				touched := propTxn(r, txn, nm, 1+r.Intn(30), &val)

				switch r.Intn(4) {
				case 0: // clone mid-way: both go on independently
					cm := nm.clone()
					clone := txn.Clone()
					propTxn(r, clone, cm, 1+r.Intn(20), &val)
					for k := range propTxn(r, txn, nm, 1+r.Intn(20), &val) {
						touched[k] = true
					}
					ct := clone.Commit()
					propCheck(t, "clone", ct, cm)
					all = append(all, version{ct, cm})
					propTxn(r, clone, cm.clone(), 1+r.Intn(20), &val) // after commit
				case 1: // commit, keep writing the same transaction, commit again
					mid := txn.Commit()
					propCheck(t, "mid", mid, nm)
					all = append(all, version{mid, nm.clone()})
					midLeaves := map[string]<-chan struct{}{}
					for k := range nm {
						ch, _, _ := mid.Root().GetWatch([]byte(k))
						midLeaves[k] = ch
					}
					t2 := propTxn(r, txn, nm, 1+r.Intn(30), &val)
					for k := range t2 {
						touched[k] = true
					}
					if track {
						defer func() {
							for k := range t2 {
								if ch, ok := midLeaves[k]; ok {
									select {
									case <-ch:
									default:
										t.Errorf("round %d: watch of %q in a tree committed mid-way did not fire after it was written", round, k)
									}
								}
							}
						}()
					}
				}
				tree = txn.Commit()
				m = nm
				propCheck(t, "commit", tree, m)
				all = append(all, version{tree, m.clone()})

				if track {
					for _, w := range leaves {
						fired := false
						select {
						case <-w.ch:
							fired = true
						default:
						}
						if touched[w.key] && !fired {
							t.Fatalf("round %d: watch of %q did not fire after it was written", round, w.key)
						}
						if !touched[w.key] && fired {
							t.Fatalf("round %d: watch of %q fired; it was not written", round, w.key)
						}
					}
					for _, w := range prefixes {
						changed := false
						for k := range touched {
							if strings.HasPrefix(k, w.key) {
								changed = true
							}
						}
						select {
						case <-w.ch:
						default:
							if changed {
								t.Fatalf("round %d: watch of prefix %q did not fire after a key under it was written", round, w.key)
							}
						}
					}
				}
			}
			for i, v := range all {
				propCheck(t, fmt.Sprintf("version %d", i), v.tree, v.m)
			}
		})
	}
}

// TestTxnNotifyOverflowDuplicates: a transaction that writes more than
// defaultModifiedCache times still fires the watch of every key it wrote,
// and only those.
func TestTxnNotifyOverflowDuplicates(t *testing.T) {
	txn := New().Txn()
	for i := 0; i < 100; i++ {
		txn.Insert([]byte(fmt.Sprintf("k%03d", i)), i)
	}
	tree := txn.Commit()
	watches := map[int]<-chan struct{}{}
	for i := 0; i < 100; i++ {
		ch, _, _ := tree.Root().GetWatch([]byte(fmt.Sprintf("k%03d", i)))
		watches[i] = ch
	}
	txn = tree.Txn()
	txn.TrackMutate(true)
	for j := 0; j < 2*defaultModifiedCache; j++ {
		txn.Insert([]byte(fmt.Sprintf("k%03d", j%50)), -j)
	}
	txn.Commit()
	for i, ch := range watches {
		select {
		case <-ch:
			if i >= 50 {
				t.Errorf("watch of key %d fired; it was not written", i)
			}
		default:
			if i < 50 {
				t.Errorf("watch of key %d did not fire", i)
			}
		}
	}
}
