"""A district's F1 dashboard. After `truyvet demo`:  streamlit run python/examples/dashboard.py
(another store: TRUYVET_STORE=path/to/store streamlit run python/examples/dashboard.py)."""
import os

import streamlit as st
import truyvet

store = st.cache_resource(truyvet.Store.open)(os.environ.get("TRUYVET_STORE", "truyvet-demo/store"))
store.refresh()  # an ingest since the last page view is seen now
s = store.stats()
st.title("Truy vết F1 · F1 contacts")
st.caption(f"{s['rows']:,} check-ins · {s['persons']:,} persons · {s['first_day']} – {s['last_day']}")

f0 = st.text_input("F0 (person id)").strip()
left, mid, right = st.columns(3)
rule = left.selectbox("Rule", ["overlap", "pc-covid", "midnight", "next-checkin", "cwa"])
linger = mid.number_input("Linger after F0 leaves (min)", 0, 240, 15)
least = right.number_input("Least exposure (min)", 0, 240, 5)
if f0:
    try:
        f1 = store.trace(f0, rule=rule, linger=linger * 60, min_overlap=least * 60)
    except (LookupError, ValueError) as e:
        st.error(str(e))
        st.stop()
    st.metric("F1 contacts", f1.num_rows)
    frame = f1.to_pandas()
    first = next(c for c in frame.columns if c.startswith("first_"))
    st.bar_chart(frame.groupby(frame[first].dt.date).size().rename("contacts by day of first contact"))
    st.dataframe(frame, hide_index=True)
    st.download_button("CSV for the call centre", frame.to_csv(index=False), f"F1-{f0}.csv", "text/csv")
