def test_a_held_unit_leaves_available(shopper, make_product, drain, client):
    make_product("FLASH-1", on_hand=3)
    accepted = shopper.add("FLASH-1", 2)
    assert accepted.status_code == 202, accepted.get_json()
    assert drain() == 1
    assert shopper.result(accepted)["outcome"] == "held"
    assert client.get("/catalogs/FLASH-1").get_json()["available"] == 1
