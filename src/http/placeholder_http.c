/* placeholder until the module lands; removed then */
