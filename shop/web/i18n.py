"""The shopper pages' words in Bahasa Indonesia and English, and how money and time are written.

Every string a shopper reads lives here, once per language, under the same key; templates call
``t(key, **values)``. The language comes from the ``lang`` cookie (the switch in the header), else
from Accept-Language, else Indonesian: the shoppers are Indonesian.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from markupsafe import Markup, escape

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "lang"
# Jakarta keeps UTC+7 all year (no daylight saving): deadlines are shown in WIB.
WIB = timezone(timedelta(hours=7), "WIB")
# The language the catalog's product names and descriptions are written in: on pages in another
# language they carry lang="en", so screen readers pronounce them as English.
CATALOG_LANGUAGE = "en"

EN: dict[str, str] = {
    "shop.name": "Kilat",
    "shop.tagline": "Flash sales with a fair line",
    "nav.skip": "Skip to content",
    "nav.cart": "Cart",
    "nav.cart_count": "Cart, {n} items",
    "nav.home": "Home",
    "nav.language": "Language",
    "nav.search_label": "Search products",
    "nav.search_placeholder": "Search products…",
    "nav.search_button": "Search",
    "footer.fair": "Every shopper gets a fair place in line: requests are served strictly in arrival order.",
    "footer.prices": "Prices in Indonesian Rupiah.",
    "lang.id": "Bahasa Indonesia",
    "lang.en": "English",
    "store.title": "Today's flash sale",
    "store.lede": "Press “Add to cart” once and keep your place in line: no refresh-racing, no surprises.",
    "store.step1": "Add to cart once",
    "store.step2": "Watch your place in line",
    "store.step3": "Pay while we hold it",
    "store.categories": "Categories",
    "store.all": "All",
    "store.sort": "Sort by",
    "store.sort.relevance": "Best match",
    "store.sort.sales": "Best selling",
    "store.sort.price": "Price: low to high",
    "store.sort.price-desc": "Price: high to low",
    "store.sort.newest": "Newest",
    "store.apply": "Apply",
    "store.count": "{n} products",
    "store.count_search": "{n} results for “{q}”",
    "store.count_many": "{n}+ products",
    "store.count_search_many": "{n}+ results for “{q}”",
    "store.search_title": "Results for “{q}”",
    "meta.store": "Flash sales with a fair line: press Add to cart once, keep your place, pay while we hold "
    "it. Prices in Rupiah.",
    "meta.product": "{name}: {price}. Join the fair line for it.",
    "meta.wait": "Your place in line, the units left and an honest wait estimate.",
    "meta.cart": "The items held for you, with the time each is held, and the way to pay.",
    "meta.order": "Your order, its payment deadline and its status.",
    "meta.error": "Something did not work; the way back to the shop.",
    "store.empty": "No products match your search.",
    "store.clear": "Clear search and filters",
    "store.prev": "Previous",
    "store.next": "Next",
    "store.page_of": "Page {page} of {pages}",
    "store.page": "Page {page}",
    "store.pages": "Pages",
    "product.left": "{n} left",
    "product.available": "{n} available now",
    "product.sold": "{n} sold",
    "product.sold_out": "Sold out",
    "product.max": "Max {n} per cart",
    "product.qty": "Quantity",
    "product.unit": "Unit",
    "cart.as_entered": "{n} {uom} = {base} pcs",
    "product.unit_option": "{uom} ({n} pcs)",
    "product.discount": "-{n}%",
    "product.normal_price": "Normal price",
    "error.unknown_uom": "This item is not sold in that unit.",
    "product.add": "Add to cart",
    "product.line_note": "You join a fair line for this item. Once it is yours we hold it for {minutes} "
    "minutes.",
    "product.sold_out_note": "This item is sold out. Units come back when other shoppers' holds expire.",
    "product.sold_out_held": "Sold out for now, but {n} are held in other carts and may come back.",
    "product.join_waitlist": "Join the waitlist",
    "product.waitlist_note": "If a unit comes back within {minutes} minutes, the earliest on the waitlist "
    "get it first, straight into their cart.",
    "product.similar": "You may also like",
    "product.category": "Category",
    "wait.title": "Waiting in line",
    "wait.checkout_title": "Preparing your order",
    "wait.for": "In line for",
    "wait.place": "You are number {n} in line",
    "wait.place_checkout": "You are number {n} in the checkout line",
    "wait.your_turn": "It's your turn: checking stock now…",
    "wait.your_turn_checkout": "It's your turn: creating your order now…",
    "wait.units_left": "{n} left",
    "wait.waitlist_place": "You are number {n} on the waitlist",
    "wait.waitlist_note": "Sold out for now. If a unit held in another cart comes back before {time}, it "
    "goes straight into your cart.",
    "wait.units_held": "{n} in other carts, may come back",
    "wait.odds.likely": "Good chance: there is enough for everyone ahead of you, and for you.",
    "wait.odds.uncertain": "Uncertain: you get it only if units in other carts come back.",
    "wait.odds.unlikely": "You are on the waitlist: the shoppers ahead of you asked for more than "
    "there is, even counting the units in carts.",
    "wait.progress": "Progress in line",
    "wait.ticket": "Your place",
    "wait.joined": "You joined",
    "wait.turn": "Your turn",
    "wait.estimate": "Estimated wait: about {d}",
    "wait.estimating": "Estimating your wait…",
    "wait.paused": "The line is paused: we'll keep your place",
    "wait.estimate_waitlist": "Waiting for a unit to come back",
    "wait.estimate_prequeue": "Places are drawn when the sale starts",
    "wait.prequeue_place": "You are in the pre-queue",
    "wait.prequeue_starts": "The sale starts in",
    "wait.prequeue_started": "starting now",
    "wait.prequeue_draw": "Everyone who joins before the start gets a place by a random draw at the start: "
    "there is no need to refresh, being early gives no advantage, and joining later puts you after them.",
    "wait.keep_open": "Keep this page open: it updates by itself. Your place is kept if you reload.",
    "wait.noscript": "This page reloads itself every {n} seconds.",
    "wait.check_now": "Check now",
    "wait.offline": "Connection lost; retrying…",
    "outcome.held.title": "It's yours!",
    "outcome.held.body": "{qty} × {name} is in your cart.",
    "outcome.held.partial": "Only {added} of the {requested} you asked for were left; we held those for you.",
    "outcome.held.timer": "Held for you for",
    "outcome.held.warn": "One minute left on your hold.",
    "outcome.go_to_cart": "Go to cart",
    "outcome.keep_shopping": "Continue shopping",
    "outcome.sold_out.title": "Sold out",
    "outcome.sold_out.body": "Sorry, {name} sold out before your turn came. Nothing was added and you were "
    "not charged.",
    "outcome.similar": "Similar items in {category} still in stock",
    "outcome.insufficient.title": "Not enough left",
    "outcome.insufficient.body": "Only {available} left, fewer than the {requested} you asked for. Nothing "
    "was added.",
    "outcome.try_fewer": "Choose a smaller quantity",
    "outcome.waitlist_offer": "{n} are still held in other carts and may come back. Wait for one?",
    "outcome.waitlist_expired": "Nothing came back while you were on the waitlist.",
    "outcome.limit.title": "Cart limit reached",
    "outcome.limit.body": "At most {max} of this item fit in one cart; your cart already has {in_cart}.",
    "outcome.back_to_product": "Back to the product",
    "outcome.not_started.title": "The sale has not started yet",
    "outcome.not_started.body": "{name} goes on sale at {starts}. Nothing was added; come back then.",
    "outcome.customer_limit.title": "Limit per shopper reached",
    "outcome.customer_limit.body": "At most {max} of this item per shopper, across all your carts; you "
    "already have {has}.",
    "outcome.released.title": "Removed from your cart",
    "outcome.empty_cart.title": "Your cart is empty",
    "outcome.empty_cart.body": "There was nothing to check out.",
    "outcome.holds_expired.title": "Your holds expired",
    "outcome.holds_expired.body": "The items in your cart went back on sale before checkout. Add them again "
    "to try.",
    "outcome.order_created.title": "Your order is ready for payment",
    "outcome.pay_now": "Pay now",
    "outcome.error.title": "Something went wrong",
    "outcome.error.body": "Your request could not be applied. Check your cart and try again.",
    "cart.title": "Your cart",
    "cart.empty": "Your cart is empty.",
    "cart.start": "Start shopping",
    "cart.item": "Item",
    "cart.price": "Price",
    "cart.qty": "Quantity",
    "cart.qty_for": "Quantity of {name}",
    "cart.line_total": "Subtotal",
    "cart.held_for": "Held for",
    "cart.expired": "Expired",
    "cart.expired_note": "This hold expired and the units went back on sale.",
    "cart.update": "Update",
    "cart.remove": "Remove",
    "cart.add_again": "Add again",
    "cart.total": "Total",
    "cart.total_note": "Expired lines are not included.",
    "cart.checkout": "Checkout",
    "cart.checkout_note": "Your held items are reserved for you until you pay or the payment deadline "
    "passes.",
    "cart.nothing_held": "Nothing in your cart is held right now.",
    "cart.pending": "Requests still in line",
    "cart.pending_link": "See your place in line",
    "cart.open_orders": "Awaiting payment",
    "cart.order_line": "Order {id} · {total}",
    "cart.pay_within": "Pay within",
    "cart.warn": "One minute left on your hold of {name}.",
    "order.warn": "One minute left to pay for order {id}.",
    "order.title": "Order {id}",
    "order.pay_title": "Complete your payment",
    "order.pay_within": "Pay within",
    "order.deadline": "Payment deadline: {time} WIB",
    "order.reserved_note": "Your items stay reserved for you until the deadline.",
    "order.summary": "Order summary",
    "order.card_legend": "Card",
    "order.card_number": "Card number",
    "order.card_hint": "Test cards: 4242 4242 4242 4242 is approved, 4000 0000 0000 0002 is declined.",
    "order.pay": "Pay {total}",
    "order.time_up": "Time's up",
    "order.declined": "Your card was declined. Nothing was charged; you can try another card.",
    "order.invalid_card": "That card number doesn't look right. Check the digits and try again.",
    "order.processing": "Your payment is still being processed. Refresh in a moment.",
    "order.retry": "That payment could not be sent. Please try again.",
    "order.paid.title": "Payment received",
    "order.paid.body": "Thank you! Order {id} is paid and your items are yours.",
    "order.expired.title": "This order expired",
    "order.expired.body": "The payment deadline passed, so the items went back on sale. Nothing was charged.",
    "order.cancelled.title": "This order was cancelled",
    "order.back": "Back to the shop",
    "order.status": "Status",
    "status.pending_payment": "Awaiting payment",
    "status.paid": "Paid",
    "status.expired": "Expired",
    "status.cancelled": "Cancelled",
    "error.title": "Something went wrong",
    "error.back": "Back to the shop",
    "error.csrf.title": "This form has expired",
    "error.csrf.body": "For your security, forms must be sent from a freshly loaded page of this shop. "
    "Go back, reload the page and try again. Nothing was changed.",
    "error.not_found.title": "Page not found",
    "error.not_found.body": "We could not find that page. It may have moved, or belong to another cart.",
    "error.unknown_job.title": "We can't find this request",
    "error.unknown_job.body": "It may have expired or been lost in a restart. "
    "Check your cart, then send the request again if needed.",
    "error.rate_limited.title": "Too many requests",
    "error.rate_limited.body": "Please wait a moment and try again.",
    "error.unavailable.title": "Briefly unavailable",
    "error.unavailable.body": "The shop is briefly unavailable. Please try again in a few seconds.",
    "error.limit_exceeded": "At most {max} of this item fit in one cart.",
    "error.customer_limit_exceeded": "At most {max} of this item per shopper, across all your carts; "
    "{has} are already yours or in line for you.",
    "error.bad_request.title": "That request didn't look right",
    "error.internal.title": "Something went wrong",
    "error.internal.body": "Something went wrong on our side. Nothing you did was lost: go back to the "
    "shop and try again.",
    "duration.seconds": "{n} seconds",
    "duration.second": "1 second",
    "duration.minutes": "{n} minutes",
    "duration.minute": "1 minute",
    "duration.seconds_range": "{low}–{high} s",
    "duration.minutes_range": "{low}–{high} min",
    "category.electronic": "Electronics",
    "category.fashion": "Fashion",
    "category.groceries": "Groceries",
    "category.home": "Home",
    "category.sports": "Sports",
    "category.beauty": "Beauty",
}

ID: dict[str, str] = {
    "shop.name": "Kilat",
    "shop.tagline": "Flash sale dengan antrean yang adil",
    "nav.skip": "Langsung ke konten",
    "nav.cart": "Keranjang",
    "nav.cart_count": "Keranjang, {n} barang",
    "nav.home": "Beranda",
    "nav.language": "Bahasa",
    "nav.search_label": "Cari produk",
    "nav.search_placeholder": "Cari produk…",
    "nav.search_button": "Cari",
    "footer.fair": "Setiap pembeli mendapat giliran yang adil: permintaan dilayani sesuai urutan datang.",
    "footer.prices": "Harga dalam Rupiah.",
    "lang.id": "Bahasa Indonesia",
    "lang.en": "English",
    "store.title": "Flash sale hari ini",
    "store.lede": "Tekan “Tambah ke keranjang” sekali dan posisi antrean Anda tersimpan: tanpa rebutan "
    "refresh.",
    "store.step1": "Tambah ke keranjang sekali",
    "store.step2": "Pantau posisi antrean Anda",
    "store.step3": "Bayar selagi kami simpan",
    "store.categories": "Kategori",
    "store.all": "Semua",
    "store.sort": "Urutkan",
    "store.sort.relevance": "Paling sesuai",
    "store.sort.sales": "Terlaris",
    "store.sort.price": "Harga terendah",
    "store.sort.price-desc": "Harga tertinggi",
    "store.sort.newest": "Terbaru",
    "store.apply": "Terapkan",
    "store.count": "{n} produk",
    "store.count_search": "{n} hasil untuk “{q}”",
    "store.count_many": "{n}+ produk",
    "store.count_search_many": "{n}+ hasil untuk “{q}”",
    "store.search_title": "Hasil untuk “{q}”",
    "meta.store": "Flash sale dengan antrean yang adil: tekan Tambah ke keranjang sekali, posisi Anda "
    "tersimpan, bayar selagi kami simpan. Harga dalam Rupiah.",
    "meta.product": "{name}: {price}. Ikuti antrean yang adil untuk barang ini.",
    "meta.wait": "Posisi Anda dalam antrean, sisa stok, dan perkiraan waktu tunggu yang jujur.",
    "meta.cart": "Barang yang disimpan untuk Anda, lama penyimpanannya, dan cara membayar.",
    "meta.order": "Pesanan Anda, batas waktu pembayaran, dan statusnya.",
    "meta.error": "Ada yang tidak berhasil; jalan kembali ke toko.",
    "store.empty": "Tidak ada produk yang cocok dengan pencarian Anda.",
    "store.clear": "Hapus pencarian dan filter",
    "store.prev": "Sebelumnya",
    "store.next": "Berikutnya",
    "store.page_of": "Halaman {page} dari {pages}",
    "store.page": "Halaman {page}",
    "store.pages": "Halaman",
    "product.left": "Sisa {n}",
    "product.available": "Tersedia {n} sekarang",
    "product.sold": "{n} terjual",
    "product.sold_out": "Habis",
    "product.max": "Maks. {n} per keranjang",
    "product.qty": "Jumlah",
    "product.unit": "Satuan",
    "cart.as_entered": "{n} {uom} = {base} pcs",
    "product.unit_option": "{uom} ({n} pcs)",
    "product.discount": "-{n}%",
    "product.normal_price": "Harga normal",
    "error.unknown_uom": "Barang ini tidak dijual dalam satuan itu.",
    "product.add": "Tambah ke keranjang",
    "product.line_note": "Anda masuk antrean yang adil untuk barang ini. Setelah berhasil, barang "
    "disimpan untuk Anda selama {minutes} menit.",
    "product.sold_out_note": "Barang ini habis. Stok kembali jika simpanan pembeli lain kedaluwarsa.",
    "product.sold_out_held": "Habis untuk saat ini, tetapi {n} masih di keranjang orang lain dan bisa "
    "kembali.",
    "product.join_waitlist": "Masuk daftar tunggu",
    "product.waitlist_note": "Jika ada yang kembali dalam {minutes} menit, yang paling awal di daftar tunggu "
    "mendapatkannya lebih dulu, langsung ke keranjang.",
    "product.similar": "Mungkin Anda suka",
    "product.category": "Kategori",
    "wait.title": "Menunggu giliran",
    "wait.checkout_title": "Menyiapkan pesanan Anda",
    "wait.for": "Antre untuk",
    "wait.place": "Anda nomor {n} dalam antrean",
    "wait.place_checkout": "Anda nomor {n} dalam antrean pembayaran",
    "wait.your_turn": "Giliran Anda: sedang memeriksa stok…",
    "wait.your_turn_checkout": "Giliran Anda: pesanan sedang dibuat…",
    "wait.units_left": "Sisa {n}",
    "wait.waitlist_place": "Anda nomor {n} di daftar tunggu",
    "wait.waitlist_note": "Habis untuk saat ini. Jika barang di keranjang orang lain kembali sebelum pukul "
    "{time}, barang itu langsung masuk ke keranjang Anda.",
    "wait.units_held": "{n} di keranjang orang lain, bisa kembali",
    "wait.odds.likely": "Peluang besar: stok cukup untuk semua yang antre di depan Anda, dan untuk Anda.",
    "wait.odds.uncertain": "Belum pasti: Anda dapat jika barang di keranjang orang lain kembali.",
    "wait.odds.unlikely": "Anda masuk daftar tunggu: yang antre di depan Anda meminta lebih banyak dari "
    "stok yang ada, termasuk yang masih di keranjang.",
    "wait.progress": "Kemajuan antrean",
    "wait.ticket": "Posisi",
    "wait.joined": "Masuk antrean",
    "wait.turn": "Giliran Anda",
    "wait.estimate": "Perkiraan waktu tunggu: sekitar {d}",
    "wait.estimating": "Menghitung perkiraan waktu tunggu…",
    "wait.paused": "Antrean sedang dijeda: posisi Anda tetap kami simpan",
    "wait.estimate_waitlist": "Menunggu barang yang kembali",
    "wait.estimate_prequeue": "Urutan diundi saat penjualan dimulai",
    "wait.prequeue_place": "Anda di antrean awal",
    "wait.prequeue_starts": "Penjualan dimulai dalam",
    "wait.prequeue_started": "segera dimulai",
    "wait.prequeue_draw": "Semua yang bergabung sebelum mulai mendapat urutan lewat undian saat penjualan "
    "dimulai: tidak perlu memuat ulang, datang lebih awal tidak memberi keuntungan, dan yang bergabung "
    "setelahnya antre di belakang.",
    "wait.keep_open": "Biarkan halaman ini terbuka: diperbarui otomatis. Posisi Anda tetap tersimpan "
    "meski halaman dimuat ulang.",
    "wait.noscript": "Halaman ini dimuat ulang otomatis setiap {n} detik.",
    "wait.check_now": "Periksa sekarang",
    "wait.offline": "Koneksi terputus; mencoba lagi…",
    "outcome.held.title": "Berhasil!",
    "outcome.held.body": "{qty} × {name} sudah ada di keranjang Anda.",
    "outcome.held.partial": "Hanya tersisa {added} dari {requested} yang Anda minta; semuanya kami simpan "
    "untuk Anda.",
    "outcome.held.timer": "Disimpan untuk Anda selama",
    "outcome.held.warn": "Waktu simpan Anda tinggal satu menit.",
    "outcome.go_to_cart": "Lihat keranjang",
    "outcome.keep_shopping": "Lanjut belanja",
    "outcome.sold_out.title": "Stok habis",
    "outcome.sold_out.body": "Maaf, {name} habis sebelum giliran Anda. Tidak ada yang ditambahkan dan "
    "Anda tidak dikenakan biaya.",
    "outcome.similar": "Produk serupa di {category} yang masih tersedia",
    "outcome.insufficient.title": "Stok tidak cukup",
    "outcome.insufficient.body": "Hanya tersisa {available}, kurang dari {requested} yang Anda minta. "
    "Tidak ada yang ditambahkan.",
    "outcome.try_fewer": "Pilih jumlah lebih sedikit",
    "outcome.waitlist_offer": "{n} masih di keranjang orang lain dan bisa kembali. Mau menunggu?",
    "outcome.waitlist_expired": "Tidak ada yang kembali selama Anda di daftar tunggu.",
    "outcome.limit.title": "Batas keranjang tercapai",
    "outcome.limit.body": "Maksimal {max} barang ini per keranjang; keranjang Anda sudah berisi {in_cart}.",
    "outcome.back_to_product": "Kembali ke produk",
    "outcome.not_started.title": "Penjualan belum dimulai",
    "outcome.not_started.body": "{name} mulai dijual pada {starts}. Tidak ada yang ditambahkan; "
    "kembali lagi nanti.",
    "outcome.customer_limit.title": "Batas per pembeli tercapai",
    "outcome.customer_limit.body": "Maksimal {max} barang ini per pembeli, di semua keranjang Anda; Anda "
    "sudah punya {has}.",
    "outcome.released.title": "Dihapus dari keranjang",
    "outcome.empty_cart.title": "Keranjang Anda kosong",
    "outcome.empty_cart.body": "Tidak ada yang bisa dibayar.",
    "outcome.holds_expired.title": "Waktu simpan habis",
    "outcome.holds_expired.body": "Barang di keranjang Anda sudah kembali dijual sebelum pembayaran. "
    "Tambahkan lagi untuk mencoba.",
    "outcome.order_created.title": "Pesanan Anda siap dibayar",
    "outcome.pay_now": "Bayar sekarang",
    "outcome.error.title": "Terjadi kesalahan",
    "outcome.error.body": "Permintaan Anda tidak dapat diproses. Periksa keranjang Anda lalu coba lagi.",
    "cart.title": "Keranjang Anda",
    "cart.empty": "Keranjang Anda kosong.",
    "cart.start": "Mulai belanja",
    "cart.item": "Produk",
    "cart.price": "Harga",
    "cart.qty": "Jumlah",
    "cart.qty_for": "Jumlah {name}",
    "cart.line_total": "Subtotal",
    "cart.held_for": "Disimpan",
    "cart.expired": "Kedaluwarsa",
    "cart.expired_note": "Waktu simpan habis dan barang kembali dijual.",
    "cart.update": "Ubah",
    "cart.remove": "Hapus",
    "cart.add_again": "Tambah lagi",
    "cart.total": "Total",
    "cart.total_note": "Baris yang kedaluwarsa tidak dihitung.",
    "cart.checkout": "Lanjut ke pembayaran",
    "cart.checkout_note": "Barang yang disimpan tetap milik Anda sampai dibayar atau batas waktu pembayaran "
    "lewat.",
    "cart.nothing_held": "Saat ini tidak ada barang yang disimpan di keranjang Anda.",
    "cart.pending": "Permintaan yang masih antre",
    "cart.pending_link": "Lihat posisi antrean",
    "cart.open_orders": "Menunggu pembayaran",
    "cart.order_line": "Pesanan {id} · {total}",
    "cart.pay_within": "Bayar dalam",
    "cart.warn": "Waktu simpan {name} tinggal satu menit.",
    "order.warn": "Waktu membayar pesanan {id} tinggal satu menit.",
    "order.title": "Pesanan {id}",
    "order.pay_title": "Selesaikan pembayaran",
    "order.pay_within": "Bayar dalam",
    "order.deadline": "Batas pembayaran: {time} WIB",
    "order.reserved_note": "Barang Anda tetap disimpan sampai batas waktu.",
    "order.summary": "Ringkasan pesanan",
    "order.card_legend": "Kartu",
    "order.card_number": "Nomor kartu",
    "order.card_hint": "Kartu uji: 4242 4242 4242 4242 disetujui, 4000 0000 0000 0002 ditolak.",
    "order.pay": "Bayar {total}",
    "order.time_up": "Waktu habis",
    "order.declined": "Kartu Anda ditolak. Tidak ada dana yang ditarik; Anda bisa mencoba kartu lain.",
    "order.invalid_card": "Nomor kartu tidak valid. Periksa kembali angkanya lalu coba lagi.",
    "order.processing": "Pembayaran Anda masih diproses. Muat ulang sebentar lagi.",
    "order.retry": "Pembayaran tidak dapat dikirim. Silakan coba lagi.",
    "order.paid.title": "Pembayaran diterima",
    "order.paid.body": "Terima kasih! Pesanan {id} sudah dibayar dan barangnya milik Anda.",
    "order.expired.title": "Pesanan ini kedaluwarsa",
    "order.expired.body": "Batas waktu pembayaran lewat, jadi barang kembali dijual. Tidak ada dana yang "
    "ditarik.",
    "order.cancelled.title": "Pesanan ini dibatalkan",
    "order.back": "Kembali ke toko",
    "order.status": "Status",
    "status.pending_payment": "Menunggu pembayaran",
    "status.paid": "Lunas",
    "status.expired": "Kedaluwarsa",
    "status.cancelled": "Dibatalkan",
    "error.title": "Terjadi kesalahan",
    "error.back": "Kembali ke toko",
    "error.csrf.title": "Formulir ini sudah kedaluwarsa",
    "error.csrf.body": "Demi keamanan Anda, formulir harus dikirim dari halaman toko yang baru dimuat. "
    "Kembali, muat ulang halaman, lalu coba lagi. Tidak ada yang diubah.",
    "error.not_found.title": "Halaman tidak ditemukan",
    "error.not_found.body": "Kami tidak menemukan halaman itu. Mungkin sudah dipindah, atau milik keranjang "
    "lain.",
    "error.unknown_job.title": "Permintaan tidak ditemukan",
    "error.unknown_job.body": "Mungkin sudah kedaluwarsa atau hilang saat server dimulai ulang. "
    "Periksa keranjang Anda, lalu kirim lagi bila perlu.",
    "error.rate_limited.title": "Terlalu banyak permintaan",
    "error.rate_limited.body": "Mohon tunggu sebentar lalu coba lagi.",
    "error.unavailable.title": "Sedang tidak tersedia",
    "error.unavailable.body": "Toko sedang tidak tersedia sebentar. Silakan coba lagi dalam beberapa detik.",
    "error.limit_exceeded": "Maksimal {max} barang ini per keranjang.",
    "error.customer_limit_exceeded": "Maksimal {max} barang ini per pembeli, di semua keranjang Anda; "
    "{has} sudah milik Anda atau sedang diantrekan.",
    "error.bad_request.title": "Permintaan tidak valid",
    "error.internal.title": "Terjadi kesalahan",
    "error.internal.body": "Terjadi kesalahan di pihak kami. Tidak ada yang hilang: kembali ke toko lalu "
    "coba lagi.",
    "duration.seconds": "{n} detik",
    "duration.second": "1 detik",
    "duration.minutes": "{n} menit",
    "duration.minute": "1 menit",
    "duration.seconds_range": "{low}–{high} detik",
    "duration.minutes_range": "{low}–{high} menit",
    "category.electronic": "Elektronik",
    "category.fashion": "Fesyen",
    "category.groceries": "Kebutuhan dapur",
    "category.home": "Rumah tangga",
    "category.sports": "Olahraga",
    "category.beauty": "Kecantikan",
}

STRINGS: dict[str, dict[str, str]] = {"en": EN, "id": ID}


def pick_language(cookie: str | None, accept_languages: Any) -> str:
    """Choose the shopper's language: the header switch's cookie, else Accept-Language, else Indonesian."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    # Werkzeug's best_match also matches "en-US" to "en" and "id-ID" to "id".
    best = accept_languages.best_match(LANGUAGES) if accept_languages else None
    return best or DEFAULT_LANGUAGE


def translator(lang: str) -> Callable[..., str]:
    """Return ``t(key, **values)`` for one language; a key missing there falls back to English."""
    strings = STRINGS.get(lang, STRINGS[DEFAULT_LANGUAGE])

    def t(key: str, **values: Any) -> str:
        text = strings.get(key) or EN.get(key) or key
        if any(isinstance(value, Markup) for value in values.values()):
            # A value marked up by a template (a product name with lang="en"): escape the rest.
            return Markup(escape(text)).format(**values)
        return text.format(**values) if values else text

    return t


def rupiah(amount: int) -> str:
    """Write whole Rupiah the Indonesian way: Rp 1.250.000."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {abs(amount):,}".replace(",", ".")


def category_name(t: Callable[..., str], category: str) -> str:
    """Name a category in the shopper's language; unknown ones keep their own name, capitalised."""
    key = f"category.{category.lower()}"
    name = t(key)
    return category.capitalize() if name == key else name


def duration(t: Callable[..., str], seconds: float) -> str:
    """Say roughly how long a wait is: whole seconds under a minute, whole minutes (rounded up) above."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return t("duration.second") if whole == 1 else t("duration.seconds", n=whole)
    minutes = math.ceil(whole / 60)
    return t("duration.minute") if minutes == 1 else t("duration.minutes", n=minutes)


def duration_range(t: Callable[..., str], low: float, high: float) -> str:
    """Say a wait estimate as a range: "20–40 s", or whole minutes from a minute up ("2–4 min")."""
    low, high = max(1, math.floor(low)), max(1, math.ceil(high))
    if high < 60:
        return duration(t, low) if low >= high else t("duration.seconds_range", low=low, high=high)
    low_min, high_min = max(1, low // 60), math.ceil(high / 60)
    if low_min >= high_min:
        return duration(t, high)
    return t("duration.minutes_range", low=low_min, high=high_min)


def clock(seconds: int) -> str:
    """Write a countdown as m:ss (or h:mm:ss), as the page's script keeps writing it."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def wib_time(moment: datetime) -> str:
    """Show a deadline as Jakarta wall-clock time (HH:MM)."""
    return moment.astimezone(WIB).strftime("%H:%M")


def wib_moment(iso: str) -> str:
    """Show a moment that may be days away (a sale's start) as Jakarta date and time."""
    return datetime.fromisoformat(iso).astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB")
